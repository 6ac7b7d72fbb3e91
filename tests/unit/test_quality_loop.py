"""The model-quality loop on embedded defaults (SQLite MLflow store and prediction log, local data
store): batch inference -> prediction log -> ground-truth feedback -> live quality -> shadow
challenger and its opt-in promotion rule."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from mlstack import lifecycle, tracking
from mlstack.data.synthetic import generate
from mlstack.errors import ConfigError, InputError, SourceNotAllowedError
from mlstack.monitoring import feedback as fb
from mlstack.monitoring.live_quality import by_version, quality_verdict, sliding
from mlstack.monitoring.prediction_log import log_predictions, read_predictions
from mlstack.monitoring.shadow import agreement, apply_shadow_verdict, shadow_verdict
from mlstack.registry.versions import champion_version
from mlstack.serving import service
from mlstack.serving.batch_inference import output_name, read_output, run_batch_inference
from mlstack.serving.loader import ModelServer
from mlstack.serving.scoring import Prediction
from mlstack.serving.shadow import Shadow
from tests.support.rows import GOOD_ROW

from .conftest import make_settings


@pytest.fixture(scope="module")
def two_versions(tmp_path_factory):
    """A champion and a challenger that is another version (trained twice, aliases set by hand)."""
    home = tmp_path_factory.mktemp("quality")
    ctx = lifecycle.context(make_settings(home, shadow_share=1.0), "penguins", trusted_caller=True)
    first = lifecycle.run_all(ctx)["register"]["version"]
    second = lifecycle.run_all(ctx)["register"]["version"]
    assert first != second
    client = tracking.configure(ctx.settings)
    name = tracking.model_name(ctx.settings, ctx.spec)
    client.set_registered_model_alias(name, "champion", first)
    client.set_registered_model_alias(name, "challenger", second)
    return ctx, name, first, second


def _batch_file(ctx, rows: int = 240) -> Path:
    """A batch under the data root (allowlisted) with 3 bad rows and a key column."""
    frame = generate(rows, seed=5, spec="penguins")
    frame.insert(0, "customer", [f"c{i}" for i in range(len(frame))])
    frame = frame.astype({"island": object, "bill_length_mm": object})
    frame.loc[10, "island"] = "Atlantis"
    frame.loc[70, "bill_length_mm"] = 500.0
    frame.loc[130, "bill_length_mm"] = "long"
    folder = Path(ctx.settings.resolved_data_root) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "batch.csv"
    frame.to_csv(path, index=False)
    return path


def test_batch_inference_scores_in_chunks_and_reports_bad_rows(two_versions):
    ctx, name, champion, challenger = two_versions
    path = _batch_file(ctx)
    result = run_batch_inference(ctx.settings, ctx.spec, str(path), "run-1", chunk_size=50)
    assert (result.rows, result.scored, result.invalid) == (240, 237, 3)
    assert result.version == champion and result.logged == 237 and result.log_error is None
    out = read_output(result.output_uri)
    assert len(out) == 237 and out["prediction_id"].is_unique
    assert set(out["model_version"]) == {champion}
    assert {"customer", "species", "prediction", "proba_Adelie", "predicted_at", "row"} <= set(out.columns)
    assert not out["row"].isin([11, 71, 131]).any()  # the bad rows, 1-based
    report = pd.read_json(result.report_uri, typ="series")
    reasons = {r["row"]: " ".join(r["reasons"]) for r in report["invalid_rows"]}
    assert set(reasons) == {11, 71, 131}
    assert "island" in reasons[11] and "bill_length_mm" in reasons[71] and "bill_length_mm" in reasons[131]
    assert len(pd.read_csv(result.invalid_rows_uri)) == 3
    logged = read_predictions(ctx.settings)
    assert set(out["prediction_id"]) <= set(logged["prediction_id"])  # shadow rows are not in it
    assert len(logged) == len(logged["prediction_id"].unique())
    # the challenger shadowed every row (share 1.0 here): logged as shadow, under the same ids
    assert result.shadow["challenger_version"] == challenger and result.shadow["rows"] == 237
    everything = read_predictions(ctx.settings, include_shadow=True)
    shadowed = everything[everything["shadow"]]
    assert set(shadowed["model_version"]) == {challenger}
    assert set(shadowed["prediction_id"]) == set(out["prediction_id"])


def test_batch_inference_refuses_a_source_outside_the_allowlist_and_bad_output(two_versions, tmp_path):
    ctx, *_ = two_versions
    outside = tmp_path / "outside.csv"
    generate(20, seed=1).to_csv(outside, index=False)
    with pytest.raises(SourceNotAllowedError, match="allowlist"):
        run_batch_inference(ctx.settings, ctx.spec, str(outside), "x")
    with pytest.raises(ConfigError, match="plain name"):
        output_name("../escape")
    missing = tmp_path / "nofeatures.csv"
    pd.DataFrame({"a": [1]}).to_csv(missing, index=False)
    with pytest.raises(InputError, match="absent column"):
        run_batch_inference(ctx.settings, ctx.spec, str(missing), "x", trusted=True)


def test_feedback_accepts_labels_and_refuses_each_bad_row_with_a_reason(two_versions):
    ctx, name, champion, _ = two_versions
    served = [service.predict(ModelServer(ctx.settings, ctx.spec), GOOD_ROW, "test") for _ in range(4)]
    ids = [s.prediction_ids[0] for s in served]
    good = pd.DataFrame({"prediction_id": ids[:2], "species": ["Gentoo", "Adelie"]})
    result = fb.record_feedback(
        ctx.settings, ctx.spec, good, "test", raw=good.to_csv().encode(), raw_format="csv"
    )
    assert result.accepted == 2 and result.rejected == []
    assert Path(result.raw_uri).read_bytes() == good.to_csv().encode()  # the raw feedback is kept
    bad = pd.DataFrame(
        {
            "prediction_id": [ids[2], ids[2], ids[0], "f" * 32, "nope", None, ids[2].upper()],
            "label": ["Gentoo", "Adelie", "Gentoo", "Gentoo", "Gentoo", "Gentoo", "Gentoo"],
        }
    )
    bad.loc[len(bad)] = [ids[3], "Penguin"]
    result = fb.record_feedback(ctx.settings, ctx.spec, bad, "test")
    reasons = {r.row: r.reason for r in result.rejected}
    assert result.accepted == 1  # row 1 only
    assert "duplicate of row 1" in reasons[2]
    assert "already has a label" in reasons[3]
    assert "unknown" in reasons[4]
    assert "not a prediction id" in reasons[5]
    assert "missing" in reasons[6]
    assert "duplicate of row 1" in reasons[7]  # ids are case-insensitive
    assert "not one of the spec's classes" in reasons[8]
    stored = fb.rejections(ctx.settings, result.batch_id)
    assert sorted(stored["row"]) == [2, 3, 4, 5, 6, 7, 8]  # nothing lost
    labelled = fb.labelled_predictions(ctx.settings)
    assert set(ids[:3]) <= set(labelled["prediction_id"]) and ids[3] not in set(labelled["prediction_id"])
    with pytest.raises(InputError, match="no label column"):
        fb.record_feedback(ctx.settings, ctx.spec, pd.DataFrame({"prediction_id": ids}), "test")


def test_live_quality_per_version_and_the_floor_verdict(two_versions):
    ctx, name, champion, _ = two_versions
    out = read_output(run_batch_inference(ctx.settings, ctx.spec, str(_batch_file(ctx)), "run-q").output_uri)
    truth = out[["prediction_id", "species"]].copy()
    fb.record_feedback(ctx.settings, ctx.spec, truth, "test")
    settings = ctx.settings.model_copy(update={"quality_min_labels": 100})
    verdict = quality_verdict(settings, ctx.spec)
    assert verdict.version == champion and verdict.labels >= 237
    assert verdict.value is not None and verdict.value > 0.8 and not verdict.below_floor
    assert verdict.offline is not None  # the version's holdout metric beside it
    labelled = fb.labelled_predictions(ctx.settings)
    table = by_version(labelled, "f1_macro")
    assert set(table["shadow"]) == {False, True}
    assert not sliding(labelled, "f1_macro", pd.Timedelta("1h").to_pytimedelta()).empty
    too_few = quality_verdict(ctx.settings.model_copy(update={"quality_min_labels": 10**6}), ctx.spec)
    assert not too_few.enough_labels and not too_few.below_floor and "no verdict" in too_few.message()


def test_live_quality_below_the_floor_is_flagged(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path, quality_min_labels=20), "penguins", trusted_caller=True)
    lifecycle.run_all(ctx)
    server = ModelServer(ctx.settings, ctx.spec)
    served = service.predict(server, [GOOD_ROW] * 30, "test")
    wrong = pd.DataFrame({"prediction_id": list(served.prediction_ids), "species": ["Adelie"] * 30})
    fb.record_feedback(ctx.settings, ctx.spec, wrong, "test")
    verdict = quality_verdict(ctx.settings, ctx.spec)
    assert verdict.labels == 30 and verdict.value == 0.0 and verdict.below_floor
    assert "BELOW the floor" in verdict.message()


def test_shadow_leaves_the_answer_alone_and_the_promotion_rule_needs_enough_rows(two_versions):
    ctx, name, champion, challenger = two_versions
    shadow = Shadow(ctx.settings, ctx.spec, share=1.0, seed=0)
    served = service.predict(ModelServer(ctx.settings, ctx.spec), [GOOD_ROW] * 4, "api")
    outcome = shadow.score(served.prediction, served.features, served.prediction_ids, "api")
    assert outcome is not None and outcome.version == challenger and outcome.rows == 4
    assert served.prediction.version == champion  # the caller's answer is the champion's
    assert (
        Shadow(ctx.settings, ctx.spec, share=0.0).score(served.prediction, served.features, ["x"] * 4, "api")
        is None
    )
    rates = agreement(ctx.settings, name)
    row = rates[(rates["champion_version"] == champion) & (rates["challenger_version"] == challenger)]
    assert int(row["rows"].iloc[0]) >= 4 and 0.0 <= float(row["agreement"].iloc[0]) <= 1.0
    refused = shadow_verdict(ctx.settings, ctx.spec, min_rows=10**6)
    assert not refused.promote and "need 1000000" in refused.reason


def _fake(version: str, values: list[str]) -> Prediction:
    return Prediction(values, None, "penguins-classifier", version, "champion", "run")


def test_shadow_promotion_rule_promotes_a_challenger_that_wins_on_live_labels(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path), "penguins", trusted_caller=True)
    first = lifecycle.run_all(ctx)["register"]["version"]
    second = lifecycle.run_all(ctx)["register"]["version"]
    client = tracking.configure(ctx.settings)
    name = tracking.model_name(ctx.settings, ctx.spec)
    client.set_registered_model_alias(name, "champion", first)
    client.set_registered_model_alias(name, "challenger", second)
    features = pd.DataFrame([GOOD_ROW] * 40)
    ids = [f"{i:032x}" for i in range(1, 41)]
    truth = ["Adelie"] * 20 + ["Gentoo"] * 20
    log_predictions(ctx.settings, features, _fake(first, ["Gentoo"] * 40), "api", ids)  # half right
    log_predictions(ctx.settings, features, _fake(second, truth), "api", ids, shadow=True)  # all right
    fb.record_feedback(ctx.settings, ctx.spec, pd.DataFrame({"prediction_id": ids, "species": truth}), "t")
    waiting = shadow_verdict(ctx.settings, ctx.spec, min_rows=41)
    assert not waiting.promote and "40 labelled rows" in waiting.reason
    verdict = shadow_verdict(ctx.settings, ctx.spec, min_rows=40)
    assert verdict.promote and verdict.challenger_value == 1.0 and verdict.champion_value < 0.5
    assert apply_shadow_verdict(ctx.settings, verdict)
    assert champion_version(ctx.settings, name) == second


def test_the_cli_front_doors(two_versions, monkeypatch, tmp_path):
    import json
    import os

    from typer.testing import CliRunner

    from mlstack.cli import app
    from mlstack.config import get_settings

    ctx, name, champion, challenger = two_versions
    for var in list(os.environ):
        if var.startswith(("MLSTACK_", "MLFLOW_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLSTACK_HOME", str(ctx.settings.home_dir))
    monkeypatch.setenv("MLSTACK_SHADOW_SHARE", "0")
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    runner = CliRunner()
    scored = runner.invoke(app, ["batch-score", str(_batch_file(ctx)), "--output", "cli", "--json"])
    assert scored.exit_code == 0, scored.output
    out = json.loads(scored.stdout)
    assert (out["scored"], out["invalid"], out["shadow"]) == (237, 3, {})
    labels = tmp_path / "labels.csv"
    read_output(out["output_uri"])[["prediction_id", "species"]].to_csv(labels, index=False)
    with labels.open("a") as f:
        f.write("0123456789abcdef0123456789abcdef,Adelie\n")
    given = runner.invoke(app, ["feedback", str(labels)])
    assert given.exit_code == 0, given.output
    assert "237 of 238 rows accepted" in given.stdout and "row 238: prediction_id: unknown" in given.stdout
    quality = json.loads(runner.invoke(app, ["quality", "--json", "--window", "1h"]).stdout)
    assert quality["version"] == champion and quality["labels"] >= 237 and quality["below_floor"] is False
    shadow = runner.invoke(app, ["shadow-promote", "--min-rows", "1000000", "--json"])
    assert shadow.exit_code == 0 and json.loads(shadow.stdout)["applied"] is False
    bad = runner.invoke(app, ["batch-score", str(tmp_path / "missing.csv")])
    assert bad.exit_code == 2 and "no such file" in " ".join(bad.stderr.split())
    get_settings.cache_clear()
