"""The native Airflow services (`make airflow-up`) run the containers' secrets check first in
production mode: a default secret refuses before any database or process starts (issue 15, §2).
No Airflow is booted: the refusal comes before it, and the other modes return before the check."""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

from devstack.airflow_services import State, marked_processes
from devstack.airflow_state import check_secrets_at_start
from devstack.ports import free_port
from mlstack.errors import ConfigError

ROOT = Path(__file__).resolve().parents[2]
STRONG = secrets.token_urlsafe(18)
OURS = ("MLSTACK_", "AIRFLOW", "MLFLOW_")  # what a developer's shell may hold: not this test's input


def _clean_env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith(OURS)}


@pytest.fixture
def here(tmp_path, monkeypatch):
    """A folder with no .env/.secrets as the working directory, none of our variables set."""
    for name in [k for k in os.environ if k.startswith(OURS)]:
        monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_make_airflow_up_in_production_refuses_a_change_me_secret_before_anything_starts(tmp_path):
    home = tmp_path / "home"
    env = {
        **_clean_env(),
        "MLSTACK_ENV": "production",
        "MLSTACK_AIRFLOW_ADMIN_PASSWORD": "change-me",  # pragma: allowlist secret
        "MLSTACK_HOME": str(home),
        "MLSTACK_AIRFLOW_URL": f"http://127.0.0.1:{free_port()}",
    }
    state = State(home / "airflow-services")
    # -o setup: the virtualenv is this one; the target's own recipe is what is tested
    try:
        run = subprocess.run(
            ["make", "--no-print-directory", "-C", str(ROOT), "-o", "setup", "airflow-up"],
            env=env,
            capture_output=True,
            text=True,
            timeout=300,
        )
    finally:  # without the check the services would start: stop them, whatever the outcome
        if marked_processes(state) or state.pids.exists() or state.pg.exists():
            purge = [str(Path(sys.executable).parent / "mlstack"), "airflow", "services", "purge", "--yes"]
            subprocess.run([*purge, "--state-dir", str(state.root)], env=env, timeout=300, check=False)
    assert run.returncode != 0, run.stdout + run.stderr
    assert (
        "error: secrets check (airflow, client; MLSTACK_ENV=production): 1 problem(s), REFUSED:" in run.stderr
    )
    findings = [line for line in run.stderr.splitlines() if line.startswith("  - ")]
    assert len(findings) == 1, run.stderr  # one line, naming the variable and how to set it
    assert findings[0].startswith(
        "  - Airflow admin password (MLSTACK_AIRFLOW_ADMIN_PASSWORD): is a known default or placeholder "
        "value; set MLSTACK_AIRFLOW_ADMIN_PASSWORD in .secrets (`make secrets` writes random values)"
    )
    assert "airflow-up] Error 2" in run.stderr  # the command's exit code 2, as make reports it
    assert not state.pids.exists() and not (state.home / "airflow.cfg").exists()
    assert not state.pg.exists()  # no local PostgreSQL either
    assert marked_processes(state) == []  # no process carries the services' marker


@pytest.mark.parametrize("mode", ["development", None])
def test_outside_production_the_start_is_unchanged(here, monkeypatch, mode):
    if mode:
        monkeypatch.setenv("MLSTACK_ENV", mode)
    monkeypatch.setenv("MLSTACK_AIRFLOW_ADMIN_PASSWORD", "change-me")  # pragma: allowlist secret
    state = State(here / "state")
    check_secrets_at_start(state, here)  # no refusal
    assert not state.root.exists()  # and nothing written


def test_production_checks_the_values_the_services_run_with(here, monkeypatch):
    monkeypatch.setenv("MLSTACK_ENV", "production")
    monkeypatch.setenv("MLSTACK_AIRFLOW_ADMIN_PASSWORD", STRONG)
    # compose's names for the keys: the native services generate their own, so these do not count
    unused = "AIRFLOW_FERNET_KEY=change-me\nAIRFLOW_JWT_SECRET=short\n"  # pragma: allowlist secret
    (here / ".secrets").write_text(unused)
    state = State(here / "state")
    check_secrets_at_start(state, here)
    # ... unless Airflow's own variable is set by hand: Airflow reads that one
    monkeypatch.setenv("AIRFLOW__API_AUTH__JWT_SECRET", "change-me")
    with pytest.raises(ConfigError) as info:
        check_secrets_at_start(state, here)
    assert [line for line in str(info.value).splitlines() if line.startswith("  - ")] == [
        "  - Airflow JWT secret (AIRFLOW__API_AUTH__JWT_SECRET): is a known default or placeholder value; "
        "set AIRFLOW_JWT_SECRET in .secrets (`make secrets` writes random values), or export "
        "AIRFLOW__API_AUTH__JWT_SECRET; generate one with: "
        "python -c 'import secrets; print(secrets.token_urlsafe(32))'"
    ]


def test_production_checks_the_mlflow_password_of_the_tasks_folder(here, monkeypatch, tmp_path_factory):
    monkeypatch.setenv("MLSTACK_ENV", "production")
    monkeypatch.setenv("MLSTACK_AIRFLOW_ADMIN_PASSWORD", STRONG)
    tasks = tmp_path_factory.mktemp("tasks")  # the services' --cwd: the tasks read its .env/.secrets
    (tasks / ".env").write_text("MLFLOW_TRACKING_USERNAME=admin\n")
    (tasks / ".secrets").write_text("MLFLOW_TRACKING_PASSWORD=password1234\n")  # pragma: allowlist secret
    with pytest.raises(ConfigError, match=r"MLflow client password \(MLFLOW_TRACKING_PASSWORD\): is a known"):
        check_secrets_at_start(State(here / "state"), tasks)
