"""The gate: better promoted, worse or equal refused, floor enforced, rollback, decisions as tags."""

from __future__ import annotations

import pytest

from mlstack import lifecycle, tracking
from mlstack.errors import RegistryError
from mlstack.registry import CHALLENGER
from mlstack.registry.aliases import rollback
from mlstack.registry.versions import champion_version, list_versions

from .conftest import make_settings

WEAK = {"n_estimators": 1, "max_depth": 1, "min_samples_leaf": 50}


def _ctx(home, **overrides):
    return lifecycle.context(make_settings(home, **overrides), "penguins")


def _train_and_register(ctx, source=None):
    ing = lifecycle.ingest(ctx, source)
    lifecycle.validate(ctx, ing["dataset_id"])
    run = lifecycle.train(ctx, ing["dataset_id"], ing["snapshot_uri"])
    lifecycle.evaluate(ctx, run["run_id"])
    return lifecycle.register(ctx, run["run_id"])


@pytest.fixture(scope="module")
def weak_then_strong(tmp_path_factory):
    home = tmp_path_factory.mktemp("gate")
    weak = _ctx(home, hyperparams=WEAK, gate_floor=0.0)
    v1 = _train_and_register(weak)
    d1 = lifecycle.promote(weak, v1["version"])
    strong = _ctx(home, gate_floor=0.0)
    v2 = _train_and_register(strong)
    d2 = lifecycle.promote(strong, v2["version"])
    v3 = _train_and_register(weak)
    d3 = lifecycle.promote(weak, v3["version"])
    return home, strong, (v1, d1), (v2, d2), (v3, d3)


def test_first_version_promoted_when_above_floor(weak_then_strong):
    _, ctx, (v1, d1), _, _ = weak_then_strong
    assert d1["verdict"] == "promoted"
    assert d1["champion_version"] is None
    assert "no champion yet" in d1["reason"]


def test_better_challenger_is_promoted_on_same_holdout(weak_then_strong):
    _, ctx, (v1, _), (v2, d2), _ = weak_then_strong
    assert d2["verdict"] == "promoted", d2["reason"]
    assert d2["champion_version"] == v1["version"]
    assert d2["delta"] > 0
    assert d2["challenger_value"] > d2["champion_value"]


def test_worse_challenger_is_refused_and_champion_kept(weak_then_strong):
    _, ctx, _, (v2, _), (v3, d3) = weak_then_strong
    assert d3["verdict"] == "refused"
    assert d3["delta"] < 0
    assert champion_version(ctx.settings, v2["name"]) == v2["version"]
    client = tracking.configure(ctx.settings)
    assert str(client.get_model_version_by_alias(v3["name"], CHALLENGER).version) == v3["version"]


def test_decisions_are_tags_on_versions(weak_then_strong):
    _, ctx, _, (v2, _), (v3, _) = weak_then_strong
    versions = {v["version"]: v for v in list_versions(ctx.settings, ctx.spec)}
    assert versions[v3["version"]]["tags"]["gate.verdict"] == "refused"
    assert versions[v3["version"]]["tags"]["gate.champion_version"] == v2["version"]
    assert versions[v2["version"]]["tags"]["gate.verdict"] == "promoted"
    assert versions[v2["version"]]["tags"]["previous_champion"] == "1"
    for tag in ("dataset_id", "snapshot_uri", "git_commit", "package_version", "orchestrator_run_id"):
        assert versions[v2["version"]]["tags"][tag]
    assert versions[v2["version"]]["tags"]["orchestrator_run_id"] == "cli"


def test_equal_challenger_is_refused(tmp_path):
    ctx = _ctx(tmp_path, gate_floor=0.0)
    first = _train_and_register(ctx)
    assert lifecycle.promote(ctx, first["version"])["verdict"] == "promoted"
    second = _train_and_register(ctx)  # same data, same seed: same model, same score
    decision = lifecycle.promote(ctx, second["version"])
    assert decision["verdict"] == "refused"
    assert decision["delta"] == 0
    assert "not positive" in decision["reason"]


def test_floor_is_enforced_without_champion(tmp_path):
    ctx = _ctx(tmp_path, hyperparams=WEAK, gate_floor=0.99)
    version = _train_and_register(ctx)
    decision = lifecycle.promote(ctx, version["version"])
    assert decision["verdict"] == "refused"
    assert "floor" in decision["reason"]
    assert champion_version(ctx.settings, version["name"]) is None


def test_register_is_idempotent_per_run(weak_then_strong):
    _, ctx, _, (v2, _), _ = weak_then_strong
    again = lifecycle.register(ctx, v2["run_id"])
    assert again["version"] == v2["version"]
    assert again["created"] is False


def test_register_is_idempotent_per_orchestrator_run(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "training_pipeline")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__2026-01-01")
    ctx = _ctx(tmp_path)
    first = _train_and_register(ctx)
    # a cleared train task makes a new MLflow run; registering it must find the same version
    second = _train_and_register(ctx)
    assert second["version"] == first["version"]
    assert second["created"] is False
    tags = list_versions(ctx.settings, ctx.spec)[0]["tags"]
    assert tags["orchestrator_run_id"] == "manual__2026-01-01"
    assert tags["dag_id"] == "training_pipeline"


def test_register_rerun_completes_a_registration_killed_before_its_alias(tmp_path, monkeypatch):
    monkeypatch.setenv("AIRFLOW_CTX_DAG_ID", "training_pipeline")
    monkeypatch.setenv("AIRFLOW_CTX_DAG_RUN_ID", "manual__killed")
    ctx = _ctx(tmp_path)
    first = _train_and_register(ctx)
    client = tracking.configure(ctx.settings)
    # the try died between creating the version and setting the alias (a killed Celery worker)
    client.delete_registered_model_alias(first["name"], CHALLENGER)
    again = lifecycle.register(ctx, first["run_id"])
    assert again["version"] == first["version"] and again["created"] is False
    assert str(client.get_model_version_by_alias(first["name"], CHALLENGER).version) == first["version"]


def test_rollback_restores_previous_champion_and_records_why(weak_then_strong):
    home, ctx, (v1, _), (v2, _), _ = weak_then_strong
    result = rollback(ctx.settings, ctx.spec, reason="bad predictions", actor="tester")
    assert result["champion"] == v1["version"]
    assert champion_version(ctx.settings, v1["name"]) == v1["version"]
    tags = {v["version"]: v["tags"] for v in list_versions(ctx.settings, ctx.spec)}[v1["version"]]
    assert tags["rollback.by"] == "tester"
    assert tags["rollback.reason"] == "bad predictions"
    assert tags["rollback.from"] == v2["version"]
    # and forward again to a named version
    rollback(ctx.settings, ctx.spec, to_version=v2["version"], reason="fixed", actor="tester")
    assert champion_version(ctx.settings, v1["name"]) == v2["version"]
    with pytest.raises(RegistryError, match="no version 99"):
        rollback(ctx.settings, ctx.spec, to_version="99")
