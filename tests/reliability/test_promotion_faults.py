"""PostgreSQL down during promote (issue 15 §5): the gate never decides on "no champion" it could
not read, a move cut halfway is finished by the retry, and the champion history stays right.

The same private stack as test_faults (a real PostgreSQL cluster under a real MLflow server); the
cluster is stopped with pg_ctl at the named point of `promote` and started again before the
task's retry. MLflow's client retries are shortened so an outage fails a call in seconds.
"""

from __future__ import annotations

import pytest
from mlflow import MlflowClient

from mlstack import lifecycle, tracking
from mlstack.registry import CHAMPION, promotion
from tests.reliability.faults import airflow_task_env, run_task
from tests.reliability.test_faults import STEPS, assert_registry_consistent, run_dag_tasks, stack  # noqa: F401

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

WEAK = {"n_estimators": 2, "max_depth": 1, "min_samples_leaf": 40}


def _champion_and_candidate(stack, model: str) -> tuple[str, str, str]:  # noqa: F811
    """A weak champion and a stronger registered candidate: (name, champion, candidate)."""
    weak = stack.settings(model, gate_floor=0.0, hyperparams=WEAK)
    first = run_dag_tasks(lifecycle.context(weak, "penguins"), f"manual__{model}_v1")
    assert first["promote"].result["verdict"] == "promoted", first["promote"].result
    strong = lifecycle.context(stack.settings(model, gate_floor=0.0), "penguins")
    second = run_dag_tasks(strong, f"manual__{model}_v2", only=STEPS[:5])
    return (
        first["register"].result["name"],
        first["register"].result["version"],
        second["register"].result["version"],
    )


def _outage(stack) -> None:  # noqa: F811
    stack.postgres.cluster.stop()


def _back(stack) -> None:  # noqa: F811
    stack.postgres.cluster.start(stack.postgres.port)


def _promote_as_task(stack, model: str, version: str, run_id: str):  # noqa: F811
    ctx = lifecycle.context(stack.settings(model, gate_floor=0.0), "penguins")
    with airflow_task_env(run_id):
        return run_task("promote", lambda: lifecycle.promote(ctx, version), retries=2, retry_delay=1.0)


def test_postgres_down_while_reading_the_champion_never_promotes_on_no_champion(stack, monkeypatch):  # noqa: F811
    name, champion, candidate = _champion_and_candidate(stack, "pg-down-read")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    original = promotion.champion_version
    reads: list[str] = []

    def down_on_first_read(settings, model):
        if not reads:
            reads.append("down")
            _outage(stack)
            try:
                return original(settings, model)
            finally:
                _back(stack)
        return original(settings, model)

    monkeypatch.setattr(promotion, "champion_version", down_on_first_read)
    run = _promote_as_task(stack, "pg-down-read", candidate, "manual__pg-down-read_v2")
    print(f"\nPostgreSQL down at the champion read: {run.state} after {run.tries} tries {run.errors}")
    assert run.state == "success", run.errors
    assert run.tries == 2, "the outage must fail the first try, not be read as 'no champion'"
    decision = run.result
    assert decision["verdict"] == "promoted" and decision["champion_version"] == champion, decision
    state = assert_registry_consistent(stack.settings("pg-down-read"), name)
    assert state["aliases"][CHAMPION] == candidate
    assert [(h["version"], h["previous"]) for h in state["history"]] == [
        (champion, None),
        (candidate, champion),
    ]


def test_postgres_down_at_the_alias_move_is_finished_by_the_retry(stack, monkeypatch):  # noqa: F811
    name, champion, candidate = _champion_and_candidate(stack, "pg-down-move")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "1")
    monkeypatch.setenv("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "1")
    original = MlflowClient.set_registered_model_alias
    moves: list[str] = []

    def down_at_first_move(self, model, alias, version):
        if alias == CHAMPION and not moves:
            moves.append(version)
            _outage(stack)
            try:
                return original(self, model, alias, version)
            finally:
                _back(stack)
        return original(self, model, alias, version)

    monkeypatch.setattr(MlflowClient, "set_registered_model_alias", down_at_first_move)
    run = _promote_as_task(stack, "pg-down-move", candidate, "manual__pg-down-move_v2")
    print(f"\nPostgreSQL down at the alias move: {run.state} after {run.tries} tries {run.errors}")
    assert moves == [candidate] and run.state == "success", run.errors
    assert run.result["verdict"] == "promoted" and run.result["champion_version"] == champion
    state = assert_registry_consistent(stack.settings("pg-down-move"), name)
    assert state["aliases"][CHAMPION] == candidate
    assert [(h["version"], h["previous"]) for h in state["history"]] == [
        (champion, None),
        (candidate, champion),
    ]
    tags = tracking.configure(stack.settings("pg-down-move")).get_model_version(name, candidate).tags
    assert tags["mlstack.gate.verdict"] == "promoted" and tags["mlstack.gate.applied_at"]
