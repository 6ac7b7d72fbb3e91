"""The README's native path, command by command and in its order, in a fresh clone.

1. "Start here": `make demo` (which also creates the clone's own .venv from uv.lock);
2. "A short tour": every CLI command, with the placeholders filled from the previous answers (the
   dataset id, the run id, the version) and the optional parts (`[--to 3]`, `[--wide | --json]`)
   taken one way;
3. "Orchestration: Airflow": the native services: the admin password appended to .secrets,
   `make airflow-up`, `make trigger-api` (success), the bad-batch trigger (fails at once, naming
   the task), an `airflow` command through the services, `make airflow-down`. Only the URL in
   .env differs (a free port), as a user whose 8080 is taken would set it; `open` is skipped.

No MLSTACK_*, MLFLOW_* or AIRFLOW* variable of the calling shell reaches the commands.
The stack path of the README is tests/stack/test_stack_boot.py (one boot, shared).
"""

from __future__ import annotations

import re
import secrets
import subprocess
from pathlib import Path

import pytest

from devstack.ports import free_port, port_is_open
from tests.support.clone import fresh_clone, user_env
from tests.support.readme import commands, shell_block

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]

TOUR = [
    ".venv/bin/mlstack run",
    ".venv/bin/mlstack generate",
    ".venv/bin/mlstack ingest",
    ".venv/bin/mlstack validate",
    ".venv/bin/mlstack train",
    ".venv/bin/mlstack evaluate",
    ".venv/bin/mlstack register",
    ".venv/bin/mlstack promote",
    ".venv/bin/mlstack rollback",
    ".venv/bin/mlstack predict",
    ".venv/bin/mlstack predict",
    ".venv/bin/mlstack predict",
    ".venv/bin/mlstack models",
    ".venv/bin/mlstack config",
    ".venv/bin/mlstack generate",
    ".venv/bin/mlstack drift",
]


def sh(clone: Path, command: str, *, timeout: float = 900) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env=user_env(COLUMNS="200"),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def ok(proc: subprocess.CompletedProcess[str], command: str) -> str:
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, f"`{command}` exited {proc.returncode}:\n{out[-4000:]}"
    return out


@pytest.fixture(scope="module")
def clone(tmp_path_factory) -> Path:
    """A fresh clone after the README's first command, `make demo`."""
    start_here = commands(shell_block("Start here: two commands"))
    assert start_here == ["make demo", "make test"], start_here
    clone = fresh_clone(tmp_path_factory.mktemp("readme-native") / "mlstack")
    out = ok(sh(clone, "make demo", timeout=1200), "make demo")
    for row in ("dataset id", "validation", "model version", "gate", "@champion"):
        assert row in out, out[-4000:]
    return clone


def test_the_short_tour_runs_in_order_with_its_answers(clone):
    tour = commands(shell_block("A short tour"))
    assert [" ".join(c.split()[:2]) for c in tour] == TOUR, tour
    found: dict[str, str] = {}
    for command in tour:
        command = (
            command.replace("ds-1234abcd...", found.get("dataset", "?"))
            .replace("<run id>", found.get("run", "?"))
            .replace("<version>", found.get("version", "?"))
            .replace("[--to 3]", f"--to {found.get('version', '?')}")
            .replace("[--wide | --json]", "--wide")
        )
        out = ok(sh(clone, command), command)
        if " ingest " in command:
            found["dataset"] = re.search(r"dataset_id: (ds-[0-9a-f]+)", out).group(1)
        elif " train " in command:
            found["run"] = re.search(r"run_id: ([0-9a-f]{32})", out).group(1)
        elif " register " in command:
            found["version"] = re.search(r"version: (\d+)", out).group(1)
        elif " rollback " in command:
            assert "refused by the gate" in out or "rolled back" in out, out
        elif " drift check " in command:
            # What the README says this example shows: drift, 4 or more of the 7 columns.
            drifted = re.search(r"DRIFT DETECTED: (\d+)/7 columns", out)
            assert drifted and int(drifted.group(1)) >= 4, out[-3000:]
    assert {"dataset", "run", "version"} <= found.keys(), found


def test_the_native_airflow_block_runs_in_order(clone):
    block = commands(shell_block("Orchestration: Airflow"))
    assert [c.split(" #")[0].split()[0:2] for c in block] == [
        ["echo", '"MLSTACK_AIRFLOW_ADMIN_PASSWORD=<choose'],
        ["make", "airflow-up"],
        ["open", "http://127.0.0.1:8080"],
        ["make", "trigger-api"],
        [".venv/bin/mlstack", "generate"],
        ["make", "trigger-api"],
        [".venv/bin/mlstack", "airflow"],
        ["make", "airflow-down"],
    ], block
    port = free_port()
    with (clone / ".env").open("a") as env_file:  # what a user whose 8080 is taken would set
        env_file.write(f"MLSTACK_AIRFLOW_URL=http://127.0.0.1:{port}\nMLSTACK_SCHEDULE=none\n")
    password = secrets.token_urlsafe(16)
    try:
        for command in block:
            if command.startswith("open "):
                continue
            command = command.replace("<choose one>", password)
            proc = sh(clone, command, timeout=900)
            if "trigger-api" in command and "data/bad.csv" in command:
                out = proc.stdout + proc.stderr
                assert proc.returncode != 0, out[-3000:]
                # the batch the README made is read, and refused by validation (not a missing file)
                assert re.search(r"task validate failed", out), out[-3000:]
                assert not re.search(r"task ingest failed", out), out[-3000:]
                continue
            out = ok(proc, command)
            if command == "make airflow-up":
                assert port_is_open(port), f"nothing listens on {port} after make airflow-up"
            elif command == "make trigger-api":
                assert "success" in out, out[-3000:]
            elif "dags list" in command:
                assert "training_pipeline" in out and "drift_monitor" in out, out[-3000:]
        assert not port_is_open(port), "the API server still answers after make airflow-down"
    finally:
        sh(clone, "make airflow-down", timeout=300)
