"""The bad-input corpus (tests/data/bad/cases.yaml): every case refused with a clear error.

Batches go through the whole lifecycle (`lifecycle.run_all`, what `mlstack run` and the training DAG
run) against a trained champion: the error names the field and the problem, @champion and the
registered versions do not change, and the raw batch is kept byte for byte. Prediction inputs go
through each front door (CLI, JSON rows, batch scoring, the Streamlit form's values): refused with
every field and problem named, nothing logged to the prediction log, the champion unchanged.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pandas as pd
import pytest
import yaml

from mlstack import errors, lifecycle
from mlstack.config import Settings
from mlstack.data.store import ArtifactStore
from mlstack.registry.versions import champion_version, list_versions

pytestmark = pytest.mark.reliability

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text())
BATCHES = {c["name"]: c for c in CASES["batches"]}
PREDICTIONS = {c["name"]: c for c in CASES["predictions"]}


def _flat(text: str) -> str:
    """Whitespace-normalised (Rich wraps long lines of CLI output)."""
    return " ".join(text.split())


def _assert_mentions(message: str, fragments: list[str]) -> None:
    flat = _flat(message)
    missing = [f for f in fragments if _flat(f) not in flat]
    assert not missing, f"message lacks {missing}:\n{message}"


def test_corpus_is_big_enough_and_files_exist():
    assert len(CASES["batches"]) >= 20
    assert len(CASES["predictions"]) >= 20
    assert {c["via"] for c in CASES["predictions"]} == {"cli", "json", "batch", "form"}
    for case in CASES["batches"] + CASES["accepted_batches"]:
        if "file" in case:
            assert (BAD / "batches" / case["file"]).is_file(), case["file"]
    names = [c["name"] for c in CASES["batches"] + CASES["predictions"]]
    assert len(names) == len(set(names)), "case names must be unique"


@pytest.fixture(scope="module")
def champion(tmp_path_factory):
    """An embedded home with a champion, trained once for the module: (ctx, summary)."""
    home = tmp_path_factory.mktemp("bad-inputs") / "home"
    settings = Settings(_env_file=None, home=home, tracking_uri=None)
    ctx = lifecycle.context(settings, "penguins", trusted_caller=True)
    summary = lifecycle.run_all(ctx)
    assert summary["champion"] == summary["register"]["version"]
    return ctx, summary


@pytest.fixture(autouse=True)
def _pin_embedded_store(monkeypatch):
    # mlflow.set_tracking_uri exports MLFLOW_TRACKING_URI; Settings would pick up another test's.
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_REGISTRY_URI", raising=False)


def _huge_batch(case: dict) -> bytes:
    from mlstack.data.synthetic import generate

    frame = generate(case["rows"], seed=3, spec="penguins")
    frame.loc[case["bad_row"], "species"] = "Emperor"
    return frame.to_csv(index=False).encode()


def _raw_key(data: bytes, filename: str) -> str:
    fmt = "parquet" if filename.endswith(".parquet") else "csv"
    return f"raw/{hashlib.sha256(data).hexdigest()[:16]}/batch.{fmt}"


@pytest.mark.parametrize("name", list(BATCHES))
def test_bad_batch_refused_champion_kept_raw_batch_kept(champion, tmp_path, name):
    ctx, summary = champion
    case = BATCHES[name]
    if case.get("generated") == "huge":
        data = _huge_batch(case)
        path = tmp_path / "huge.csv"
        path.write_bytes(data)
        assert len(data) > 10_000_000
    else:
        path = BAD / "batches" / case["file"]
        data = path.read_bytes()
    model = summary["register"]["name"]
    versions_before = [v["version"] for v in list_versions(ctx.settings, ctx.spec)]
    error = getattr(errors, case["error"])

    with pytest.raises(error) as info:
        lifecycle.run_all(ctx, str(path))

    _assert_mentions(str(info.value), case["expect"])
    assert "Traceback" not in str(info.value)
    assert champion_version(ctx.settings, model) == summary["champion"]
    assert [v["version"] for v in list_versions(ctx.settings, ctx.spec)] == versions_before
    store = ArtifactStore.from_settings(ctx.settings)
    assert store.get_bytes(_raw_key(data, path.name)) == data, "raw batch not kept"
    if case["error"] == "DataValidationError":  # the report is kept next to it
        dataset_id = lifecycle.ingest(ctx, str(path))["dataset_id"]
        report = store.get_bytes(f"reports/validation/{dataset_id}.txt").decode()
        _assert_mentions(report, case["expect"][:1])


@pytest.mark.parametrize("case", CASES["accepted_batches"], ids=lambda c: c["name"])
def test_controls_are_accepted(champion, case):
    ctx, _ = champion
    ingested = lifecycle.ingest(ctx, str(BAD / "batches" / case["file"]))
    assert lifecycle.validate(ctx, ingested["dataset_id"])["passed"]


# --------------------------------------------------------------------------------------------
# prediction inputs
# --------------------------------------------------------------------------------------------


@pytest.fixture
def serving(champion, monkeypatch, tmp_path):
    """The champion's home as the process settings (what the CLI and the app read)."""
    from mlstack.config import get_settings

    ctx, summary = champion
    for var in list(os.environ):
        if var.startswith("MLSTACK_"):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLSTACK_HOME", str(ctx.settings.home))
    monkeypatch.chdir(tmp_path)  # no .env/.secrets of the checkout
    get_settings.cache_clear()
    yield ctx, summary
    get_settings.cache_clear()


def _logged(ctx) -> int:
    from mlstack.monitoring.prediction_log import read_predictions

    try:
        return len(read_predictions(ctx.settings))
    except Exception:  # no log table yet: nothing was logged
        return 0


def _refused(ctx, summary, case: dict) -> str:
    """Run one refused prediction input through its front door; returns the error text."""
    from mlstack.serving.inputs import prepare_inputs

    via = case["via"]
    if via == "cli":
        from typer.testing import CliRunner

        from mlstack.cli import app

        result = CliRunner().invoke(app, ["predict", *case["args"]])
        assert result.exit_code == 2, (result.exit_code, result.output)
        return result.output + getattr(result, "stderr", "")
    with pytest.raises(errors.InputError) as info:
        prepare_inputs(case["input"], ctx.spec)
    return str(info.value)


REFUSED = [n for n, c in PREDICTIONS.items() if c["via"] in ("cli", "json", "form")]


@pytest.mark.parametrize("name", REFUSED)
def test_bad_prediction_input_refused(serving, name):
    ctx, summary = serving
    case = PREDICTIONS[name]
    logged_before = _logged(ctx)
    message = _refused(ctx, summary, case)
    _assert_mentions(message, case["expect"])
    assert "Traceback" not in message
    assert _logged(ctx) == logged_before, "a refused input reached the prediction log"
    assert champion_version(ctx.settings, summary["register"]["name"]) == summary["champion"]


@pytest.mark.parametrize("name", [n for n, c in PREDICTIONS.items() if c["via"] == "batch"])
def test_bad_batch_rows_reported_good_rows_scored(serving, name):
    from mlstack.serving.batch import score_batch
    from mlstack.serving.loader import ModelServer

    ctx, summary = serving
    case = PREDICTIONS[name]
    server = ModelServer(ctx.settings, ctx.spec)
    rows = pd.DataFrame(case["rows"]) if case.get("table") else case["rows"]
    if "error" in case:
        with pytest.raises(errors.InputError) as info:
            score_batch(server, rows)
        _assert_mentions(str(info.value), case["error"])
        return
    result = score_batch(server, rows)
    problems = {p.index: " ".join(p.reasons) for p in result.problems}
    assert sorted(problems) == sorted(case["bad_rows"])
    for index, fragments in case["bad_rows"].items():
        _assert_mentions(problems[index], fragments)
    assert list(result.scored.index) == case["scored_rows"]
    assert result.version == summary["champion"]
    assert result.scored["prediction"].isin(ctx.spec.classes).all()


def test_a_good_cli_prediction_still_works(serving):
    """The same front door answers a valid input (the refusals above are not a broken CLI)."""
    from typer.testing import CliRunner

    from mlstack.cli import app

    ctx, summary = serving
    fields = ["island=Dream", "bill_length_mm=45", "bill_depth_mm=", "flipper_length_mm=200"]
    fields += ["body_mass_g=4000", "sex=", "year=2008"]  # empty: an explicit null where allowed
    args = [arg for field in fields for arg in ("--field", field)]
    result = CliRunner().invoke(app, ["predict", *args, "--json"])
    assert result.exit_code == 0, result.output
    assert f'"version": "{summary["champion"]}"' in result.output
