"""Airflow 3.3 outside Docker: api-server, scheduler, dag-processor, triggerer on PostgreSQL.

What ``mlstack airflow services up|down|purge|status|airflow`` (and ``make airflow-*``) run:
:func:`up` starts (or keeps) the services and waits until healthy, :func:`down` stops them by PID
and checks that no process is left, :func:`purge` also deletes the state folder, :func:`status`
reports PIDs and health, :func:`run_airflow` runs any ``airflow`` CLI command against them.

The same processes the compose file runs, with the same settings: LocalExecutor, the repo's
``dags/`` and ``plugins/``, no examples, one shared JWT secret, the API on 127.0.0.1, low
parallelism (2 cores), login required (SimpleAuthManager; user ``MLSTACK_AIRFLOW_ADMIN_USER``,
password ``MLSTACK_AIRFLOW_ADMIN_PASSWORD`` from ``.secrets``). With ``MLSTACK_ENV=production``,
:func:`up` first runs the secrets check the containers run (``airflow_state.check_secrets_at_start``).

Everything lives in a state folder (default ``$MLSTACK_HOME/airflow-services``): ``home/airflow.cfg``
(so ``AIRFLOW_HOME=<state>/home airflow ...`` works by hand), logs, PID files, and, unless
``MLSTACK_AIRFLOW_DB_URL`` (or ``AIRFLOW_DB_URL``) names a database, a local PostgreSQL cluster
started from the installed binaries. The scheduler starts as ``mlstack airflow scheduler``, with
pandas, scikit-learn and MLflow preloaded, so every task process forked by LocalExecutor has them.
The tasks see this process's environment and the ``.env``/``.secrets`` of ``cwd`` (default: the
repository), e.g. ``MLFLOW_TRACKING_URI`` and ``MLSTACK_SMTP_*``.

Our own process handling (not a process-manager library) because the services must be stopped by
process group with SIGTERM then SIGKILL, found again from PID files by a later command, and their
forked task processes traced by an environment marker; PostgreSQL must run as ``postgres`` via
``runuser`` when we are root.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devstack.airflow_state import (
    ServicesError,
    State,
    check_secrets_at_start,
    log,
    start_local_postgres,
    stop_local_postgres,
    write_config,
)
from devstack.ports import LOOPBACK
from devstack.ports import port_is_open as port_open
from devstack.processes import pid_alive as alive
from mlstack.airflow.dag_files import REPO_ROOT
from mlstack.config import load_settings

__all__ = [
    "ServicesError",
    "Started",
    "State",
    "Status",
    "down",
    "purge",
    "run_airflow",
    "state_at",
    "status",
    "up",
]

MARK = "MLSTACK_AIRFLOW_SERVICES"  # in the environment of every process we start (and its children)
# Stop order: the scheduler first (no new task is started), the API server (execution API) last.
COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
BIN = Path(sys.executable).parent


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------


def marked_processes(state: State) -> list[int]:
    """Live processes carrying our marker in their environment (every descendant inherits it)."""
    needle = f"{MARK}={state.root}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes() and alive(int(entry.name)):
                found.append(int(entry.name))
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
    return found


def airflow_env(state: State) -> dict[str, str]:
    """Environment of every service process: this one's, plus AIRFLOW_HOME and our marker.

    The SMTP connection is not exported here: the failure notifier builds it from MLSTACK_SMTP_*
    in the task process when a mail is due, so the password sits in no long-lived environment.
    """
    env = dict(os.environ)  # AIRFLOW__* set by hand still override airflow.cfg
    env.update(
        {
            "AIRFLOW_HOME": str(state.home),
            MARK: str(state.root),
            "PYTHONUNBUFFERED": "1",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
    )
    return env


def _command(name: str, port: int) -> list[str]:
    airflow = str(BIN / "airflow")
    if name == "scheduler":
        # Preloads the lifecycle's heavy modules before LocalExecutor forks its workers.
        # --skip-serve-logs: the log server binds every interface; the api-server on this machine
        # reads the task logs from the shared log folder anyway.
        if os.environ.get("MLSTACK_AIRFLOW_PRELOAD", "1") == "0":  # for comparisons only
            return [airflow, "scheduler", "--skip-serve-logs"]
        return [_mlstack_bin(), "airflow", "scheduler", "--skip-serve-logs"]
    if name == "api-server":
        return [airflow, "api-server", "--host", LOOPBACK, "--port", str(port), "--workers", "1"]
    if name == "triggerer":
        return [airflow, "triggerer", "--skip-serve-logs"]
    return [airflow, name]


def _mlstack_bin() -> str:
    candidate = BIN / "mlstack"
    return str(candidate) if candidate.exists() else shutil.which("mlstack") or "mlstack"


def start_process(state: State, name: str, port: int, env: dict[str, str], cwd: Path) -> int:
    pid = state.pid(name)
    if pid and alive(pid):
        log(f"{name} already running (pid {pid})")
        return pid
    state.logs.mkdir(parents=True, exist_ok=True)
    state.pids.mkdir(parents=True, exist_ok=True)
    with open(state.logs / f"{name}.log", "ab") as out:
        out.write(f"\n=== {time.strftime('%Y-%m-%d %H:%M:%S')} start {name}\n".encode())
        out.flush()
        proc = subprocess.Popen(
            _command(name, port), env=env, cwd=cwd, stdin=subprocess.DEVNULL, stdout=out,
            stderr=subprocess.STDOUT, start_new_session=True,
        )  # fmt: skip
    (state.pids / f"{name}.pid").write_text(str(proc.pid))
    log(f"{name} started (pid {proc.pid}), log {state.logs / (name + '.log')}")
    return proc.pid


def health(port: int) -> dict[str, Any] | None:
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(f"http://{LOOPBACK}:{port}/api/v2/monitor/health", timeout=3) as response:
            return json.loads(response.read())
    except (OSError, urllib.error.URLError, ValueError):
        return None


def healthy(report: dict[str, Any] | None) -> bool:
    return bool(report) and all(
        (report.get(key) or {}).get("status") == "healthy"
        for key in HEALTH_KEYS  # type: ignore[union-attr]
    )


def _warm_up(port: int) -> None:
    """The first execution-API request of a fresh api-server takes seconds: pay it here, not in a task."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    for path in ("/execution/health", "/api/v2/version"):
        with contextlib.suppress(OSError, urllib.error.URLError):
            opener.open(f"http://{LOOPBACK}:{port}{path}", timeout=30).read()


def wait_healthy(state: State, port: int, timeout: float) -> float:
    started = time.monotonic()
    report = None
    while time.monotonic() - started < timeout:
        report = health(port)
        if healthy(report):
            return time.monotonic() - started
        for name in COMPONENTS:
            pid = state.pid(name)
            if pid and not alive(pid):
                tail = (state.logs / f"{name}.log").read_text(errors="replace")[-3000:]
                raise ServicesError(f"{name} exited while starting; log tail:\n{tail}")
        time.sleep(0.5)
    raise ServicesError(f"Airflow not healthy after {timeout:.0f}s: {report}")


def _airflow_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("apache-airflow-core")
    except PackageNotFoundError:
        return version("apache-airflow")


def migrate(state: State, env: dict[str, str], db_url: str) -> None:
    marker = state.root / "migrated"
    # Keyed on the database and the Airflow version: the components skip their own migration
    # check (check_migrations = False below), so an upgraded Airflow must migrate here again.
    key = hashlib.sha256(f"{db_url}\n{_airflow_version()}".encode()).hexdigest()
    if marker.exists() and marker.read_text() == key:
        return
    started = time.monotonic()
    result = subprocess.run(
        [str(BIN / "airflow"), "db", "migrate"], env=env, capture_output=True, text=True, check=False
    )
    if result.returncode != 0:
        raise ServicesError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    marker.write_text(key)
    log(f"airflow db migrate: {time.monotonic() - started:.1f}s")


# --------------------------------------------------------------------------------------------
# commands
# --------------------------------------------------------------------------------------------


def state_at(state_dir: Path | None = None) -> State:
    """The services' state folder: ``state_dir``, or ``$MLSTACK_HOME/airflow-services``."""
    return State(state_dir or load_settings().home_dir / "airflow-services")


@dataclass
class Started:
    """Services up and healthy: their URL, seconds from start to healthy, and in all."""

    url: str
    healthy_after_s: float
    total_s: float

    def to_dict(self) -> dict[str, Any]:
        """As JSON-ready data."""
        return {"url": self.url, "healthy_after_s": self.healthy_after_s, "total_s": self.total_s}


def up(
    state: State,
    *,
    port: int | None = None,
    cwd: Path = REPO_ROOT,
    parallelism: int = 2,
    timeout: float = 300.0,
) -> Started:
    """Start (or keep) the services in ``state``, migrate the database once, wait until healthy.

    ``port`` defaults to the last one used, else the port of ``MLSTACK_AIRFLOW_URL`` (8080);
    ``cwd`` is the services' working directory (its ``.env``/``.secrets`` reach the tasks).
    In production mode a default or weak secret is refused first, as by the containers.
    """
    check_secrets_at_start(state, cwd)  # before anything starts: no database, no process
    started = time.monotonic()
    data = state.load()
    running = [n for n in COMPONENTS if (pid := state.pid(n)) and alive(pid)]
    port = port or data.get("port") or _default_port()
    if not running and port_open(port):
        raise ServicesError(f"port {port} on {LOOPBACK} is taken by another program; use --port")
    configured = load_settings().airflow_db_url  # environment, .secrets or .env, like every setting
    db_url = (configured.get_secret_value() if configured else None) or os.environ.get("AIRFLOW_DB_URL")
    local_pg = not db_url
    if not db_url:
        db_url = start_local_postgres(state)
    write_config(state, port=port, db_url=db_url, parallelism=parallelism)
    data = state.load()
    data.update({"port": port, "local_postgres": local_pg, "cwd": str(cwd)})
    state.save(data)
    env = airflow_env(state)
    migrate(state, env, db_url)
    for name in reversed(COMPONENTS):  # api-server first: the others talk to its execution API
        start_process(state, name, port, env, cwd)
    seconds = wait_healthy(state, port, timeout)
    _warm_up(port)
    total = time.monotonic() - started
    log(f"healthy in {seconds:.1f}s after start ({total:.1f}s with database setup): http://{LOOPBACK}:{port}")
    return Started(f"http://{LOOPBACK}:{port}", seconds, total)


def _default_port() -> int:
    from urllib.parse import urlsplit

    return urlsplit(load_settings().airflow_url).port or 8080


def _terminate(state: State, names: tuple[str, ...], timeout: float) -> None:
    """SIGTERM the process groups of ``names`` together; SIGKILL whatever outlives ``timeout``."""
    began = time.monotonic()
    pids = {name: pid for name in names if (pid := state.pid(name)) and alive(pid)}
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    pending = dict(pids)
    while pending and time.monotonic() - began < timeout:
        for name, pid in list(pending.items()):
            if not alive(pid):
                log(f"{name} stopped (pid {pid}) in {time.monotonic() - began:.1f}s")
                del pending[name]
        time.sleep(0.1)
    for name, pid in pending.items():
        log(f"{name} (pid {pid}) ignored SIGTERM for {timeout:.0f}s: SIGKILL")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGKILL)
    for name in names:
        (state.pids / f"{name}.pid").unlink(missing_ok=True)


def down(state: State, *, timeout: float = 30.0) -> list[int]:
    """Stop the scheduler (no new task starts), then the others together, then the local
    PostgreSQL; returns the PIDs of processes still alive (empty when all stopped)."""
    _terminate(state, ("scheduler",), timeout)
    _terminate(state, ("triggerer", "dag-processor", "api-server"), timeout)
    # Children in their own process groups (task runners) carry the marker too.
    deadline = time.monotonic() + 10
    while (left := marked_processes(state)) and time.monotonic() < deadline:
        time.sleep(0.2)
    for pid in left:
        log(f"leftover process {pid}: SIGKILL")
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    if state.load().get("local_postgres"):
        stop_local_postgres(state)
        log("postgres stopped")
    time.sleep(0.2)
    left = marked_processes(state)
    log(f"processes still alive: {left}" if left else "all stopped; no process left")
    return left


def purge(state: State) -> list[int]:
    """:func:`down`, then delete the state folder and the local database (only if all stopped)."""
    left = down(state)
    if not left:
        shutil.rmtree(state.pg, ignore_errors=True)
        shutil.rmtree(state.root, ignore_errors=True)
        log(f"deleted {state.root}")
    return left


@dataclass
class Status:
    """PID per component (None: stopped), health per component, and the UI/API address."""

    pids: dict[str, int | None]
    health: dict[str, str]
    url: str | None
    home: Path

    @property
    def ok(self) -> bool:
        """Every component runs and reports healthy."""
        return all(self.pids.values()) and all(v == "healthy" for v in self.health.values())

    def report(self) -> str:
        """The status as aligned lines, one per component."""
        lines = [f"{name:14} {'running' if pid else 'stopped'}{f' (pid {pid})' if pid else ''}"
                 for name, pid in self.pids.items()]  # fmt: skip
        lines += [f"{key:14} {value}" for key, value in self.health.items()]
        if self.url:
            lines.append(f"UI / API       {self.url}  (AIRFLOW_HOME={self.home})")
        return "\n".join(lines)


def status(state: State) -> Status:
    """Which components run (by PID) and what ``/api/v2/monitor/health`` says of each."""
    data = state.load()
    pids = {name: pid if (pid := state.pid(name)) and alive(pid) else None for name in COMPONENTS}
    report = health(data["port"]) if data.get("port") else None
    states = {key: ((report or {}).get(key) or {}).get("status", "unknown") for key in HEALTH_KEYS}
    url = f"http://{LOOPBACK}:{data['port']}" if data.get("port") else None
    return Status(pids, states, url, state.home)


def run_airflow(state: State, args: list[str]) -> int:
    """``airflow <args>`` against these services (``AIRFLOW_HOME`` = the state's home); its exit code."""
    env = {**os.environ, "AIRFLOW_HOME": str(state.home)}
    return subprocess.run([str(BIN / "airflow"), *args], env=env, check=False).returncode
