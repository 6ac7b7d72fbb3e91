"""Drift checks: Evidently verdicts, reference from the champion's lineage, reports, CLI exit codes.

Everything runs on embedded defaults (SQLite MLflow, local data root) against a champion trained
once per module; no servers.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlstack import lifecycle, tracking
from mlstack.data.synthetic import generate, parse_drift, reference_frame
from mlstack.drift import check, inputs, reports
from mlstack.drift.result import EXIT_DRIFT, EXIT_NO_DRIFT, format_summary
from mlstack.errors import ConfigError, InputError, NoChampionError

from .conftest import make_settings

# Four of penguins' seven features: past the default dataset threshold (share 0.5).
STRONG = [
    "bill_length_mm:shift=2",
    "flipper_length_mm:shift=-1.5",
    "body_mass_g:scale=1.8",
    "island:mix=Biscoe:0.1,Dream:0.1,Torgersen:0.8",
]


def _batch(tmp_path: Path, name: str, rows: int = 300, seed: int = 0, drift_items=None) -> str:
    frame = generate(rows, seed=seed, spec="penguins", drift=parse_drift(drift_items))
    path = tmp_path / f"{name}.csv"
    frame.to_csv(path, index=False)
    return str(path)


# ------------------------------------------------------------------------------------------
# pure pieces
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [("24h", 86400), ("30m", 1800), ("7d", 604800), ("2w", 1209600), ("90s", 90), ("1.5h", 5400)],
)
def test_parse_window(text, seconds):
    assert inputs.parse_window(text).total_seconds() == seconds


@pytest.mark.parametrize("text", ["", "24", "h", "-1h", "0h", "24x", "24 hours"])
def test_parse_window_rejects(text):
    with pytest.raises(ConfigError, match="drift window"):
        inputs.parse_window(text)


def test_sample_size_floor():
    assert inputs.check_sample_size(0) == 0
    assert inputs.check_sample_size(inputs.MIN_SAMPLE_SIZE) == inputs.MIN_SAMPLE_SIZE
    with pytest.raises(ConfigError, match="at least"):
        inputs.check_sample_size(500)


def test_sample_rows_is_seeded_and_bounded():
    frame = pd.DataFrame({"x": range(10_000)})
    a, b = inputs.sample_rows(frame, 2_000, 42), inputs.sample_rows(frame, 2_000, 42)
    assert len(a) == 2_000
    assert a["x"].tolist() == b["x"].tolist()
    assert inputs.sample_rows(frame, 2_000, 43)["x"].tolist() != a["x"].tolist()
    assert len(inputs.sample_rows(frame, 0, 42)) == 10_000  # 0 = every row
    assert len(inputs.sample_rows(frame, 20_000, 42)) == 10_000  # smaller frames untouched


def test_features_frame_names_missing_columns():
    spec = lifecycle.context(make_settings(Path("/nonexistent")), "penguins").spec
    frame = reference_frame(spec).drop(columns=["island", "year"])
    with pytest.raises(InputError, match=r"island.*year|year.*island"):
        inputs.features_frame(frame, spec, "current")


def test_parse_snapshot_uses_test_status_not_score_direction():
    """A p-value column (small = drift) and a distance column (large = drift), flags from status."""
    data = {
        "metrics": [
            {"id": "m0", "config": {"type": "evidently:metric_v2:DriftedColumnsCount"}, "value": {"count": 2.0, "share": 2 / 3}},
            {"id": "m1", "config": {"type": "evidently:metric_v2:ValueDrift", "column": "a", "method": "K-S p_value", "threshold": 0.05}, "value": 1e-9},
            {"id": "m2", "config": {"type": "evidently:metric_v2:ValueDrift", "column": "b", "method": "Wasserstein distance (normed)", "threshold": 0.1}, "value": 0.4},
            {"id": "m3", "config": {"type": "evidently:metric_v2:ValueDrift", "column": "c", "method": "K-S p_value", "threshold": 0.05}, "value": 0.6},
        ],
        "tests": [
            {"metric_config": {"metric_id": "m0"}, "status": "FAIL"},
            {"metric_config": {"metric_id": "m1"}, "status": "FAIL"},
            {"metric_config": {"metric_id": "m2"}, "status": "FAIL"},
            {"metric_config": {"metric_id": "m3"}, "status": "SUCCESS"},
        ],
    }  # fmt: skip
    detected, share, count, columns = check.parse_snapshot(data)
    assert detected and count == 2 and share == pytest.approx(2 / 3)
    flags = {c.column: c.drifted for c in columns}
    assert flags == {"a": True, "b": True, "c": False}
    severity = {c.column: c.severity for c in columns}
    assert severity["a"] > severity["b"] > severity["c"] == 0.0


# ------------------------------------------------------------------------------------------
# Evidently on real data
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def spec():
    return lifecycle.context(make_settings(Path("/nonexistent")), "penguins").spec


@pytest.fixture(scope="module")
def reference(spec):
    return inputs.features_frame(reference_frame(spec), spec, "reference")


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_no_drift_batches_raise_no_alarm(spec, reference, seed):
    """False-alarm check: batches drawn from the training distribution are not drift."""
    current = inputs.features_frame(generate(300, seed=seed, spec=spec), spec, "current")
    result = check.evaluate(reference, current, spec, drift_share=0.5, render_html=False)
    assert not result.drift_detected, [c for c in result.columns if c.drifted]
    assert result.drifted_count <= 1
    assert {c.column for c in result.columns} == set(spec.feature_names)


def test_drifted_batch_is_detected_with_methods_and_thresholds(spec, reference):
    current = inputs.features_frame(
        generate(300, seed=9, spec=spec, drift=parse_drift(STRONG)), spec, "current"
    )
    result = check.evaluate(reference, current, spec, drift_share=0.5, render_html=False)
    assert result.drift_detected
    drifted = {c.column for c in result.columns if c.drifted}
    assert {"bill_length_mm", "flipper_length_mm", "body_mass_g", "island"} <= drifted
    by_name = {c.column: c for c in result.columns}
    assert by_name["bill_length_mm"].method == "K-S p_value"  # <= 1000 reference rows: p-value tests
    assert by_name["island"].method.startswith("chi-square")
    assert all(c.threshold == 0.05 for c in result.columns)


def test_share_threshold_decides_dataset_verdict(spec, reference):
    """One drifted column of seven: drift at share 0.1, none at the default 0.5."""
    current = inputs.features_frame(
        generate(300, seed=4, spec=spec, drift=parse_drift(["bill_length_mm:shift=3"])), spec, "current"
    )
    low = check.evaluate(reference, current, spec, drift_share=0.1, render_html=False)
    high = check.evaluate(reference, current, spec, drift_share=0.5, render_html=False)
    assert low.drift_detected and not high.drift_detected
    assert [c.column for c in low.columns if c.drifted] == ["bill_length_mm"]


# ------------------------------------------------------------------------------------------
# the whole check against a trained champion
# ------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    home = tmp_path_factory.mktemp("drift")
    ctx = lifecycle.context(make_settings(home), "penguins", trusted_caller=True)  # as the CLI
    summary = lifecycle.run_all(ctx)
    assert summary["champion"]
    return ctx, summary


def test_check_compares_with_champion_training_snapshot_and_saves_reports(champion, tmp_path):
    ctx, summary = champion
    report_dir = tmp_path / "out"
    result = check.check_drift(ctx, _batch(tmp_path, "ok", seed=21), report_dir=report_dir)

    assert not result.drift_detected and result.exit_code == EXIT_NO_DRIFT
    assert result.reference["dataset_id"] == summary["ingest"]["dataset_id"]
    assert result.model["champion_version"] == summary["champion"]
    assert result.current["kind"] == "batch"
    assert Path(result.current["raw_uri"]).is_file()  # ingested the normal way: raw batch kept
    assert result.current["rows"] == 300 and result.current["sampled_rows"] == 300

    # local files: dated + latest, under the data root and in the extra folder
    for key in ("html_uri", "json_uri", "latest_html_uri", "latest_json_uri"):
        assert Path(result.report[key]).is_file(), key
    assert (report_dir / "latest.html").read_text().lstrip().lower().startswith("<!doctype html")
    saved = json.loads((report_dir / "latest.json").read_text())
    assert saved["drift_detected"] is False
    assert {c["column"] for c in saved["columns"]} == set(ctx.spec.feature_names)
    assert saved["evidently"]["tests"], "the raw Evidently results (with tests) are kept"

    # the MLflow run in the monitoring experiment
    client = tracking.configure(ctx.settings)
    run = client.get_run(result.mlflow["run_id"])
    experiment = client.get_experiment(run.info.experiment_id)
    assert experiment.name == "penguins-monitoring"
    assert run.data.tags["mlstack.champion_version"] == summary["champion"]
    assert run.data.tags["mlstack.drift.detected"] == "false"
    assert run.data.metrics["drifted_share"] == result.drifted_share
    artifacts = {a.path for a in client.list_artifacts(run.info.run_id, "drift")}
    assert artifacts == {"drift/drift_report.html", "drift/drift_report.json"}

    latest = reports.latest_report(ctx.settings)
    assert latest.html_uri == result.report["latest_html_uri"]
    assert latest.result.report["id"] == result.report["id"]
    assert "evidently" not in latest.result.to_dict()
    assert latest.result == result  # the saved JSON reads back as the same result
    assert reports.latest_report_html(ctx.settings).lstrip().lower().startswith("<!doctype html")


def test_drifted_batch_reports_top_columns(champion, tmp_path):
    ctx, _ = champion
    result = check.check_drift(ctx, _batch(tmp_path, "bad", seed=22, drift_items=STRONG))
    assert result.drift_detected and result.exit_code == EXIT_DRIFT
    top = [c.column for c in result.top_drifted()]
    # the four drifted features lead (a fifth column may cross alpha=0.05 by chance, far behind)
    assert set(top[:4]) == {"bill_length_mm", "flipper_length_mm", "body_mass_g", "island"}
    text = format_summary(result.summary())
    assert re.match(r"DRIFT DETECTED: [4-7]/7 columns drifted", text)
    assert "top drifted columns:" in text
    assert reports.latest_report(ctx.settings).result.drift_detected is True


def test_large_current_is_sampled_with_the_documented_seed(champion, tmp_path):
    ctx, _ = champion
    path = _batch(tmp_path, "big", rows=5_000, seed=23)
    first = check.check_drift(ctx, path, sample_size=2_000, log_to_mlflow=False)
    again = check.check_drift(ctx, path, sample_size=2_000, log_to_mlflow=False)
    assert first.current["rows"] == 5_000 and first.current["sampled_rows"] == 2_000
    assert first.reference["sampled_rows"] == first.reference["rows"]  # 344 rows: not sampled
    assert first.sample == {"size": 2_000, "seed": ctx.settings.seed}
    assert [c.score for c in first.columns] == [c.score for c in again.columns]


def test_prediction_log_window(champion):
    from mlstack.monitoring.prediction_log import log_predictions
    from mlstack.serving.inputs import prepare_inputs
    from mlstack.serving.loader import ModelServer

    ctx, _ = champion
    server = ModelServer(ctx.settings, ctx.spec)
    features = prepare_inputs(generate(120, seed=24, spec=ctx.spec)[ctx.spec.feature_names], ctx.spec)
    log_predictions(ctx.settings, features, server.predict(features), source="test")

    result = check.check_drift(ctx, "predictions:1h", log_to_mlflow=False)
    assert result.current["kind"] == "predictions"
    assert result.current["rows"] >= 120
    assert not result.drift_detected
    strict = lifecycle.context(ctx.settings.model_copy(update={"drift_min_rows": 10_000}), "penguins")
    with pytest.raises(inputs.NotEnoughData, match="MLSTACK_DRIFT_MIN_ROWS"):
        check.check_drift(strict, "predictions:1h", log_to_mlflow=False)


def test_no_champion_is_an_error(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path / "empty"), "penguins")
    with pytest.raises(NoChampionError, match="no @champion"):
        check.check_drift(ctx, _batch(tmp_path, "ok"))


# ------------------------------------------------------------------------------------------
# the CLI: exit codes and output
# ------------------------------------------------------------------------------------------


@pytest.fixture
def cli(champion, monkeypatch):
    from mlstack.cli import app
    from mlstack.config import get_settings

    ctx, _ = champion
    monkeypatch.setenv("MLSTACK_HOME", str(ctx.settings.home))
    get_settings.cache_clear()
    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, ["drift", "check", *args])
        return result.exit_code, " ".join(result.output.split())  # rich wraps long lines

    yield invoke
    get_settings.cache_clear()


def test_cli_exit_codes(cli, tmp_path):
    ok, bad = _batch(tmp_path, "ok", seed=31), _batch(tmp_path, "bad", seed=32, drift_items=STRONG)

    code, out = cli("--current", ok, "--fail-on-drift", "--report-dir", str(tmp_path / "r"))
    assert code == 0, out
    assert "no drift" in out
    assert (tmp_path / "r" / "latest.html").is_file()

    code, out = cli("--current", bad, "--fail-on-drift")
    assert code == 3, out
    assert "DRIFT DETECTED" in out and "top drifted columns:" in out and "bill_length_mm: K-S" in out

    code, out = cli("--current", bad)  # drift without --fail-on-drift: reported, exit 0
    assert code == 0 and "DRIFT DETECTED" in out

    code, out = cli("--current", str(tmp_path / "missing.csv"), "--fail-on-drift")
    assert code == 2 and "no such file" in out

    code, out = cli("--current", "predictions:soon", "--fail-on-drift")
    assert code == 2 and "drift window" in out


def test_cli_json(cli, tmp_path):
    code, out = cli("--current", _batch(tmp_path, "ok", seed=33), "--json")
    assert code == 0, out
    data = json.loads(out[out.index("{") :])
    assert data["drift_detected"] is False and data["columns_checked"] == 7


# ------------------------------------------------------------------------------------------
# the CI contract: `mlstack drift ci` (what `make drift-check` and Jenkins' Drift check run)
# ------------------------------------------------------------------------------------------


@pytest.fixture
def ci(cli):
    from mlstack.cli import app

    runner = CliRunner()

    def invoke(*args):
        result = runner.invoke(app, ["drift", "ci", *args])
        return result.exit_code, " ".join(result.output.split())

    return invoke


def test_ci_contract_writes_the_exit_code_beside_the_report(ci, tmp_path):
    out_dir = tmp_path / "reports" / "drift"

    # no --current: a fresh seeded no-drift synthetic batch
    code, out = ci("--report-dir", str(out_dir), "--rows", "300", "--seed", "7")
    assert code == 0, out
    assert (out_dir / "exit-code").read_text().strip() == "0"
    assert (out_dir / "batch-seed7.csv").is_file()
    assert (out_dir / "latest.html").is_file() and (out_dir / "latest.json").is_file()
    assert "no drift" in out and "exit code 0" in out

    code, out = ci(
        "--report-dir", str(out_dir), "--current", _batch(tmp_path, "bad", seed=41, drift_items=STRONG)
    )
    assert code == 3, out
    assert (out_dir / "exit-code").read_text().strip() == "3"
    assert "DRIFT DETECTED" in out and "exit code 3" in out
    assert json.loads((out_dir / "latest.json").read_text())["drift_detected"] is True

    # a failed check: code 2 in the file, and no stale report of the run before
    code, out = ci("--report-dir", str(out_dir), "--current", str(tmp_path / "missing.csv"))
    assert code == 2 and "no such file" in out
    assert (out_dir / "exit-code").read_text().strip() == "2"
    assert not (out_dir / "latest.html").exists() and not (out_dir / "latest.json").exists()


def test_ci_trains_a_champion_first_on_embedded_defaults(tmp_path, monkeypatch):
    from mlstack.cli import app
    from mlstack.config import get_settings

    monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "fresh"))
    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(
            app, ["drift", "ci", "--report-dir", str(tmp_path / "r"), "--rows", "300"]
        )
    finally:
        get_settings.cache_clear()
    out = " ".join(result.output.split())
    assert result.exit_code == 0, out
    assert "no @champion" in out and "training one" in out
    assert (tmp_path / "r" / "exit-code").read_text().strip() == "0"


def test_cli_latest_prints_the_saved_summary(cli, tmp_path):
    from mlstack.cli import app

    cli("--current", _batch(tmp_path, "ok", seed=34))
    result = CliRunner().invoke(app, ["drift", "latest"])
    assert result.exit_code == 0, result.output
    assert result.output.startswith("no drift: ") and "champion: penguins-classifier v" in result.output
