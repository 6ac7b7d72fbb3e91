"""SMTP down when a task fails: the real training DAG (`dag.test()`, embedded Airflow) with the alert
mail pointed at a port where nothing listens, and at a server that accepts but never answers.

The task must still be marked failed, the mail error must be logged, and nothing may hang. The
SMTP password (set, as in production) must not appear in the task output or in any Airflow log file.
"""

from __future__ import annotations

import os
import secrets
import socket
import threading
import time
from pathlib import Path

import pytest

from devstack.ports import LOOPBACK, free_port

# Sets up the embedded Airflow environment before Airflow is imported (see tests/dags/_airflow.py).
from tests.dags._airflow import AIRFLOW_ENV, lifecycle_env, registry, run_dag

pytestmark = [pytest.mark.reliability, pytest.mark.dags]

MAX_SECONDS = 120  # the failing run plus the bounded mail attempts


@pytest.fixture(scope="module")
def airflow_ready():
    from mlstack.airflow.embedded import airflow_db_ready, migrate_airflow_db

    if not airflow_db_ready(AIRFLOW_ENV):
        migrate_airflow_db(AIRFLOW_ENV)
    return AIRFLOW_ENV


def _bad_batch(path: Path) -> str:
    from mlstack.data import sources

    frame = sources.parse(sources.fetch("builtin:penguins"))
    frame.loc[3, "island"] = "Atlantis"
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_csv(path, index=False)
    return str(path)


SMTP_PASSWORD = secrets.token_urlsafe(18)  # must never reach a log


def _smtp_env(port: int) -> dict[str, str]:
    return {
        "MLSTACK_SMTP_USER": "alerts@example.test",
        "MLSTACK_SMTP_PASSWORD": SMTP_PASSWORD,
        "MLSTACK_SMTP_HOST": LOOPBACK,
        "MLSTACK_SMTP_PORT": str(port),
        "MLSTACK_SMTP_STARTTLS": "false",
        "MLSTACK_SMTP_SSL": "false",
        "MLSTACK_ALERT_RECIPIENTS": "oncall@example.test",
    }


class SilentServer:
    """Accepts TCP connections and never says a word (a hung mail relay)."""

    def __init__(self) -> None:
        self.port = free_port()
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind((LOOPBACK, self.port))
        self.sock.listen(16)
        self.accepted: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.accepted.append(conn)

    def close(self) -> None:
        self.sock.close()
        for conn in self.accepted:
            conn.close()


@pytest.mark.parametrize("fault", ["refused", "silent"])
def test_smtp_down_task_still_failed_error_logged_nothing_hangs(
    airflow_ready, tmp_path, capfd, caplog, monkeypatch, fault
):
    from mlstack import alerts

    # The connection's timeout bounds every mail attempt (30 s in production); 5 s keeps this fast.
    monkeypatch.setattr(alerts, "SMTP_TIMEOUT_SECONDS", 5)
    silent = SilentServer() if fault == "silent" else None
    port = silent.port if silent else free_port()  # nothing listens on a fresh free port
    home = tmp_path / "home"
    source = _bad_batch(home / "data" / "bad.csv")  # under the data root: DAG runs may read it
    try:
        with lifecycle_env(home, **_smtp_env(port)):
            before = registry(home)
            started = time.monotonic()
            result = run_dag({"source": source})
            took = time.monotonic() - started
            after = registry(home)
    finally:
        if silent:
            silent.close()
    with open(os.environ.get("MLSTACK_RELIABILITY_LOG", os.devnull), "a") as out:
        out.write(f"SMTP {fault}: DAG run {result['state']} in {took:.1f}s\n")
    print(f"\nSMTP {fault}: DAG run {result['state']} in {took:.1f}s; tasks {result['tasks']}")
    assert result["state"] == "failed"
    assert result["tasks"]["validate"] == "failed"
    assert took < MAX_SECONDS, f"the failing run took {took:.0f}s with SMTP {fault}"
    assert after["champion"] == before["champion"]
    out = capfd.readouterr()
    logged = out.out + out.err + caplog.text
    assert "alert mail sent" not in logged
    # Airflow's task runner catches the notifier's exception and logs it with the traceback.
    assert "Failed to run task callback" in logged and "on_failure_callback" in logged, logged[-3000:]
    expected = "ConnectionRefusedError" if fault == "refused" else "timed out"
    # No secret in the task logs: the captured output and every file Airflow wrote under its log folder.
    assert SMTP_PASSWORD not in logged
    log_root = Path(AIRFLOW_ENV["AIRFLOW__LOGGING__BASE_LOG_FOLDER"])
    log_files = [p for p in log_root.rglob("*") if p.is_file()]
    for path in log_files:
        assert SMTP_PASSWORD not in path.read_text(errors="replace"), f"SMTP password in {path}"
    assert expected in logged, f"the SMTP error ({expected}) was not logged:\n{logged[-3000:]}"
