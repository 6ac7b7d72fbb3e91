"""`mlstack airflow ...`: argument checks and the dev-tooling guard, without servers."""

from __future__ import annotations

import sys
import types

from typer.testing import CliRunner

from mlstack.cli import app

runner = CliRunner()


def test_services_say_they_are_dev_tooling_when_devstack_is_absent(monkeypatch):
    # given devstack is not installed (None in sys.modules makes its import fail)
    monkeypatch.setitem(sys.modules, "devstack", None)
    monkeypatch.setitem(sys.modules, "devstack.airflow_services", None)
    for command in ("up", "down", "purge", "status"):
        # when a services command runs
        result = runner.invoke(app, ["airflow", "services", command])
        # then it exits 2 and says how to get the tooling
        assert result.exit_code == 2, (command, result.output)
        assert "dev tooling" in result.output and "make setup" in result.output


def test_trigger_refuses_a_conf_that_is_not_a_json_object():
    for conf in ("{not json", "[1, 2]"):
        result = runner.invoke(app, ["airflow", "trigger", "training_pipeline", "--conf", conf])
        assert result.exit_code == 2, result.output
        assert "--conf" in result.output


def test_airflow_commands_are_listed():
    result = runner.invoke(app, ["airflow", "--help"])
    assert result.exit_code == 0
    for command in ("demo", "trigger", "scheduler", "services"):
        assert command in result.output


def test_scheduler_hands_its_arguments_to_airflow(monkeypatch):
    seen: list[list[str]] = []
    monkeypatch.setattr("mlstack.airflow.preload.run_airflow_preloaded", seen.append)
    result = runner.invoke(app, ["airflow", "scheduler", "--skip-serve-logs", "-n", "1"])
    assert result.exit_code == 0, result.output
    assert seen == [["scheduler", "--skip-serve-logs", "-n", "1"]]


def test_services_airflow_runs_any_airflow_command_against_the_state(monkeypatch, tmp_path):
    # given a stand-in for devstack.airflow_services that records the call
    calls: list[tuple[object, list[str]]] = []
    fake = types.ModuleType("devstack.airflow_services")
    fake.state_at = lambda state_dir: ("state", state_dir)  # type: ignore[attr-defined]
    fake.run_airflow = lambda state, args: calls.append((state, args)) or 3  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "devstack", types.ModuleType("devstack"))
    monkeypatch.setitem(sys.modules, "devstack.airflow_services", fake)
    # when `airflow dags list --output json` runs through it
    result = runner.invoke(
        app,
        ["airflow", "services", "airflow", "--state-dir", str(tmp_path), "dags", "list", "--output", "json"],
    )
    # then airflow gets exactly those arguments, and its exit code is ours
    assert result.exit_code == 3, result.output
    assert calls == [(("state", tmp_path), ["dags", "list", "--output", "json"])]


def test_purge_asks_first_and_keeps_the_state_unless_confirmed(tmp_path):
    # given a state folder of the native services (nothing running)
    state = tmp_path / "airflow-services"
    (state / "home").mkdir(parents=True)
    (state / "home" / "airflow.cfg").write_text("[core]\n")
    # when the user answers no, nothing is deleted
    result = runner.invoke(app, ["airflow", "services", "purge", "--state-dir", str(state)], input="n\n")
    assert result.exit_code == 1 and "Delete" in result.output
    assert (state / "home" / "airflow.cfg").exists()
    # when the user answers yes, the state is gone
    result = runner.invoke(app, ["airflow", "services", "purge", "--state-dir", str(state)], input="y\n")
    assert result.exit_code == 0, result.output
    assert not state.exists()


def test_a_failed_run_says_which_task_failed_and_why(monkeypatch):
    # No Airflow here: the client is replaced by one that returns a failed run (its REST calls are
    # tested in test_airflow_client.py, and live in tests/integration/test_airflow_services.py).
    from mlstack.airflow import client as client_module

    class FailedRun:
        def trigger_and_wait(self, dag_id, params, **kwargs):
            result = client_module.RunResult(dag_id, "manual__x", "failed", 9.7)
            result.tasks = {"validate": {"state": "failed"}}
            result.failures = {"validate": "AirflowFailException: too few rows: 5 rows, min_rows>=50"}
            return result

    monkeypatch.setattr(
        client_module.AirflowClient, "from_settings", classmethod(lambda cls, s=None: FailedRun())
    )
    result = runner.invoke(
        app, ["airflow", "trigger", "training_pipeline", "--conf", '{"source": "few.csv"}']
    )
    assert result.exit_code == 1
    assert "manual__x: FAILED after" in result.stderr
    assert "task validate failed: AirflowFailException: too few rows: 5 rows, min_rows>=50" in result.stderr


def test_native_services_migrate_again_after_an_airflow_upgrade(tmp_path, monkeypatch):
    """The native services skip Airflow's own migration check, so `migrate` keys its marker on the
    database URL and the Airflow version: same pair -> no migration; a new version -> migrate."""
    from devstack import airflow_services

    # a stand-in `airflow` executable that records each `airflow db migrate` it is asked for
    bin_dir, calls = tmp_path / "bin", tmp_path / "calls"
    bin_dir.mkdir()
    (bin_dir / "airflow").write_text(f'#!/bin/sh\necho "$*" >> {calls}\n')
    (bin_dir / "airflow").chmod(0o755)
    monkeypatch.setattr(airflow_services, "BIN", bin_dir)
    state = types.SimpleNamespace(root=tmp_path)
    db = "postgresql://airflow@127.0.0.1:5432/airflow"

    def migrations(version: str, db_url: str = db) -> int:
        monkeypatch.setattr(airflow_services, "_airflow_version", lambda: version)
        airflow_services.migrate(state, {"PATH": "/usr/bin:/bin"}, db_url)
        return len(calls.read_text().splitlines()) if calls.exists() else 0

    assert migrations("3.3.2") == 1
    assert migrations("3.3.2") == 1  # same database, same Airflow: no second migration
    assert migrations("3.4.0") == 2  # upgraded Airflow: migrate again
    assert migrations("3.4.0") == 2
    assert migrations("3.4.0", db_url=db.replace("5432", "5433")) == 3  # another database
    assert calls.read_text().splitlines() == ["db migrate"] * 3
