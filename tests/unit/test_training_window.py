"""The training window (`data.window`): its syntax, which snapshots it picks, and what a retrain
trains and is judged on, on the embedded store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pandas as pd
import pytest

from mlstack import lifecycle
from mlstack.data import window
from mlstack.data.synthetic import generate
from mlstack.data.window import NEW, PART_COLUMN, PINNED, WindowSnapshot, WindowSpec, parse_window
from mlstack.errors import ConfigError

from .conftest import make_settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "spec"), [("5", WindowSpec(5)), ("1", WindowSpec(1)), ("30d", WindowSpec(30, True))]
)
def test_window_syntax(text, spec):
    assert parse_window(text) == spec


@pytest.mark.parametrize("text", ["0", "-1", "d", "5w", "", "2.5"])
def test_bad_window_is_a_config_error_naming_the_setting(text, tmp_path):
    from mlstack.config import load_settings

    with pytest.raises(ConfigError, match=r"MLSTACK_TRAINING_WINDOW: .*expected a number of batches"):
        load_settings(_env_file=None, home=tmp_path, training_window=text)


def _snap(name: str, days_ago: float) -> WindowSnapshot:
    return WindowSnapshot(name, 100, (NOW - timedelta(days=days_ago)).isoformat())


def test_last_n_batches_always_holds_the_new_one():
    others = [_snap("b", 1), _snap("c", 2), _snap("d", 3)]  # newest first
    current = _snap("new", 0)
    assert [s.dataset_id for s in window.select(WindowSpec(3), current, others, NOW)] == ["new", "b", "c"]
    assert [s.dataset_id for s in window.select(WindowSpec(1), current, others, NOW)] == ["new"]
    # the new batch validated again earlier is not counted twice
    again = [_snap("new", 5), *others]
    assert [s.dataset_id for s in window.select(WindowSpec(2), current, again, NOW)] == ["new", "b"]


def test_last_n_days():
    others = [_snap("b", 1), _snap("c", 6.9), _snap("d", 7.1)]
    chosen = window.select(WindowSpec(7, days=True), _snap("new", 0), others, NOW)
    assert [s.dataset_id for s in chosen] == ["new", "b", "c"]


def _batch(ctx, frame: pd.DataFrame, path) -> dict:
    frame.to_csv(path, index=False)
    ingested = lifecycle.ingest(ctx, str(path))
    lifecycle.validate(ctx, ingested["dataset_id"])
    return ingested


def test_window_trains_on_every_snapshot_deduplicated_and_never_on_an_evaluation_row(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path / "home", training_window="2"), "penguins", True)
    first = generate(200, seed=1)
    a = _batch(ctx, first, tmp_path / "a.csv")
    b = _batch(ctx, generate(200, seed=2), tmp_path / "b.csv")
    # c repeats 50 rows of a: the window holds c and b (2), not a; duplicates within it go
    c_frame = pd.concat([generate(150, seed=3), first.head(50)], ignore_index=True)
    c = _batch(ctx, c_frame, tmp_path / "c.csv")

    built, training, evaluation = window.assemble(ctx.settings, ctx.spec, c["dataset_id"])
    assert [s.dataset_id for s in built.snapshots] == [c["dataset_id"], b["dataset_id"]]
    assert built.pinned == (b["dataset_id"],)
    assert a["dataset_id"] not in {s.dataset_id for s in built.snapshots}
    assert built.new_rows == 50 and built.pinned_rows == 50  # a quarter of each holdout
    assert set(evaluation[PART_COLUMN]) == {NEW, PINNED}
    keys = set(pd.util.hash_pandas_object(evaluation[ctx.spec.columns], index=False))
    assert not keys & set(pd.util.hash_pandas_object(training[ctx.spec.columns], index=False))
    assert not training.duplicated(subset=ctx.spec.columns).any()
    assert built.train_rows == len(training) == 300 - built.duplicates_dropped - built.overlap_dropped
    # the same snapshot gives the same holdout rows in every window (no model trains on them)
    again, _, evaluation_again = window.assemble(ctx.settings, ctx.spec, c["dataset_id"])
    pd.testing.assert_frame_equal(evaluation, evaluation_again)
    assert again == built


def test_a_run_records_its_window_in_the_lineage(trained):
    import mlflow

    ctx, summary = trained
    run = mlflow.MlflowClient().get_run(summary["train"]["run_id"])
    tags = run.data.tags
    assert tags["mlstack.window.setting"] == ctx.settings.training_window == "5"
    assert tags["mlstack.window.snapshots"] == summary["ingest"]["dataset_id"]
    assert tags["mlstack.window.rows"] == str(summary["ingest"]["rows"])
    assert int(tags["mlstack.window.train_rows"]) == summary["train"]["train_rows"]
    assert "mlstack.window.duplicates_dropped" in tags
    recorded = mlflow.artifacts.load_dict(f"runs:/{run.info.run_id}/window/window.json")
    assert recorded["current"] == summary["ingest"]["dataset_id"]
    assert recorded["snapshots"][0]["rows"] == summary["ingest"]["rows"]


def test_a_snapshot_without_a_column_the_spec_now_has_is_left_out(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path / "home"), "penguins", True)
    old = _batch(ctx, generate(200, seed=1), tmp_path / "old.csv")
    # the same dataset name, validated earlier under a spec without `year` (a schema change since)
    older = generate(200, seed=2).drop(columns=["year"])
    older_path = tmp_path / "older.csv"
    older.to_csv(older_path, index=False)
    older_id = lifecycle.ingest(ctx, str(older_path))["dataset_id"]
    window.record_validated(ctx.settings, ctx.spec, older_id, len(older))
    new = _batch(ctx, generate(200, seed=3), tmp_path / "new.csv")

    built, training, _ = window.assemble(ctx.settings, ctx.spec, new["dataset_id"])
    assert [s.dataset_id for s in built.snapshots] == [new["dataset_id"], old["dataset_id"]]
    assert built.pinned == (old["dataset_id"],)
    assert training["year"].notna().all()
