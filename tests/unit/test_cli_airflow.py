"""`mlstack airflow ...`: argument checks and the dev-tooling guard, without servers."""

from __future__ import annotations

import sys

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
