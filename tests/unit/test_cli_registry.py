"""`mlstack rollback` and `mlstack models` through the CLI, on an embedded registry."""

from __future__ import annotations

import os
import pwd

import pytest
from typer.testing import CliRunner

from mlstack import lifecycle
from mlstack.config import get_settings
from mlstack.registry.versions import list_versions

from .conftest import make_settings

runner = CliRunner()


@pytest.fixture(scope="module")
def strong_then_refused(tmp_path_factory):
    """v1 the champion; v2 weak, refused by the gate."""
    home = tmp_path_factory.mktemp("cli-registry")
    strong = lifecycle.context(make_settings(home, gate_floor=0.0), "penguins")
    lifecycle.run_all(strong)
    weak = lifecycle.context(
        make_settings(
            home, gate_floor=0.0, hyperparams={"n_estimators": 1, "max_depth": 1, "min_samples_leaf": 50}
        ),
        "penguins",
    )
    summary = lifecycle.run_all(weak)
    assert summary["gate"]["verdict"] == "refused"
    return home, strong


@pytest.fixture
def cli_home(strong_then_refused, monkeypatch, tmp_path):
    home, ctx = strong_then_refused
    for var in list(os.environ):
        if var.startswith(("MLSTACK_", "MLFLOW_")):
            monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLSTACK_HOME", str(home))
    monkeypatch.chdir(tmp_path)  # no .env/.secrets of the checkout
    get_settings.cache_clear()
    yield ctx
    get_settings.cache_clear()


def test_rollback_to_a_refused_version_warns_and_records_the_os_user(cli_home, monkeypatch):
    from mlstack.cli import app

    for var in ("USER", "LOGNAME", "LNAME", "USERNAME"):  # what the issue saw: `by: unknown`
        monkeypatch.delenv(var, raising=False)
    result = runner.invoke(app, ["rollback", "--to", "2", "--reason", "try it"])
    assert result.exit_code == 0, result.output
    assert "warning: version 2 was refused by the gate" in result.stderr
    user = pwd.getpwuid(os.getuid()).pw_name
    tags = {v["version"]: v["tags"] for v in list_versions(cli_home.settings, cli_home.spec)}["2"]
    assert tags["rollback.by"] == user

    # back to the promoted v1: no warning; --by names someone else
    result = runner.invoke(app, ["rollback", "--to", "1", "--by", "oncall", "--json"])
    assert result.exit_code == 0, result.output
    assert "warning" not in result.stderr and '"by": "oncall"' in result.stdout


def test_models_fits_the_terminal_and_wide_keeps_each_value_whole(cli_home, monkeypatch):
    from mlstack.cli import app

    monkeypatch.setenv("COLUMNS", "80")
    dataset_id = list_versions(cli_home.settings, cli_home.spec)[0]["tags"]["dataset_id"]
    narrow = runner.invoke(app, ["models"])
    assert narrow.exit_code == 0, narrow.output
    assert "…" not in narrow.stdout, "a value was cut"
    assert max(len(line) for line in narrow.stdout.splitlines()) <= 80
    wide = runner.invoke(app, ["models", "--wide"])
    assert wide.exit_code == 0, wide.output
    row = next(line for line in wide.stdout.splitlines() if line.strip().startswith("│ 2 "))
    assert dataset_id in row and "refused" in row
