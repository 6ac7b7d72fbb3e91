"""Airflow 3.3 outside Docker: api-server, scheduler, dag-processor, triggerer on PostgreSQL.

What ``mlstack airflow services up|down|purge|status|airflow`` (and ``make airflow-*``) run:
:func:`up` starts (or keeps) the services and waits until healthy, :func:`down` stops them by PID
and checks that no process is left, :func:`purge` also deletes the state folder, :func:`status`
reports PIDs and health, :func:`run_airflow` runs any ``airflow`` CLI command against them.

The same processes the compose file runs, with the same settings: LocalExecutor, the repo's
``dags/`` and ``plugins/``, no examples, one shared JWT secret, the API on 127.0.0.1, low
parallelism (2 cores), login required (SimpleAuthManager; user ``MLSTACK_AIRFLOW_ADMIN_USER``,
password ``MLSTACK_AIRFLOW_ADMIN_PASSWORD`` from ``.secrets``).

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
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack.airflow.dag_files import DAGS_FOLDER, PLUGINS_FOLDER, REPO_ROOT
from mlstack.config import load_settings
from mlstack.errors import MlstackError

LOOPBACK = "127.0.0.1"
MARK = "MLSTACK_AIRFLOW_SERVICES"  # in the environment of every process we start (and its children)
# Stop order: the scheduler first (no new task is started), the API server (execution API) last.
COMPONENTS = ("scheduler", "triggerer", "dag-processor", "api-server")
HEALTH_KEYS = ("metadatabase", "scheduler", "triggerer", "dag_processor")
BIN = Path(sys.executable).parent


class ServicesError(MlstackError):
    """The services could not be set up or did not become healthy (the message says why)."""


def log(message: str) -> None:
    """A progress line on stderr, prefixed ``[airflow-services]``."""
    print(f"[airflow-services] {message}", file=sys.stderr, flush=True)


# --------------------------------------------------------------------------------------------
# state folder, configuration
# --------------------------------------------------------------------------------------------


class State:
    """The state folder of one set of services: config home, logs, PID files, local PostgreSQL."""

    def __init__(self, root: Path) -> None:
        self.root = root.resolve()
        self.home = self.root / "home"
        self.logs = self.root / "logs"
        self.pids = self.root / "pids"
        self.pg = self._pg_dir()
        self.file = self.root / "state.json"

    def _pg_dir(self) -> Path:
        """``state/pg``, unless the postgres user cannot reach it (e.g. under a 0700 temp dir).

        PostgreSQL refuses to run as root; as root the cluster runs as ``postgres``, which must be
        able to traverse every parent. Then the cluster goes to /tmp under a name tied to us.
        """
        inside = self.root / "pg"
        if os.geteuid() != 0 or _world_traversable(self.root):
            return inside
        digest = hashlib.sha256(str(self.root).encode()).hexdigest()[:12]
        return Path(tempfile.gettempdir()) / f"mlstack-airflow-pg-{digest}"

    def load(self) -> dict[str, Any]:
        """What ``state.json`` remembers (port, secrets, local PostgreSQL), or {}."""
        return json.loads(self.file.read_text()) if self.file.exists() else {}

    def save(self, data: dict[str, Any]) -> None:
        """Write ``state.json`` (0600: it holds secrets)."""
        self.root.mkdir(parents=True, exist_ok=True)
        _write_private(self.file, json.dumps(data, indent=2))

    def pid(self, name: str) -> int | None:
        """The PID recorded for component ``name``, if any (it may have exited since)."""
        path = self.pids / f"{name}.pid"
        return int(path.read_text()) if path.exists() else None


def _world_traversable(path: Path) -> bool:
    """True when every existing parent of ``path`` (and itself) is o+x."""
    return all(part.stat().st_mode & 0o001 for part in [path, *path.parents] if part.exists())


def _write_private(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((LOOPBACK, port), timeout=0.5):
        return True
    return False


def _secrets(state: State) -> dict[str, str]:
    """JWT secret, API secret key and Fernet key: generated once per state folder, kept 0600."""
    data = state.load()
    if "secrets" not in data:
        from cryptography.fernet import Fernet

        data["secrets"] = {
            "jwt_secret": secrets.token_urlsafe(32),
            "api_secret_key": secrets.token_urlsafe(32),
            "fernet_key": Fernet.generate_key().decode(),
        }
        state.save(data)
    return data["secrets"]


def write_config(state: State, *, port: int, db_url: str, parallelism: int) -> Path:
    """``home/airflow.cfg``: every process (and a person with AIRFLOW_HOME set) reads the same."""
    import configparser

    settings = load_settings()
    password = settings.airflow_admin_password
    if password is None or not password.get_secret_value():
        raise ServicesError(
            "MLSTACK_AIRFLOW_ADMIN_PASSWORD is not set: put the Airflow admin password in .secrets "
            "(see .secrets.example); the UI and the API require a login."
        )
    user = settings.airflow_admin_user
    keys = _secrets(state)
    state.home.mkdir(parents=True, exist_ok=True)
    passwords = state.home / "simple_auth_manager_passwords.json"
    _write_private(passwords, json.dumps({user: password.get_secret_value()}))
    base = f"http://{LOOPBACK}:{port}"
    cfg = configparser.ConfigParser(interpolation=None)
    cfg.read_dict(
        {
            "core": {
                "dags_folder": str(DAGS_FOLDER),
                "plugins_folder": str(PLUGINS_FOLDER),
                "executor": "LocalExecutor",
                "load_examples": "False",
                "parallelism": str(parallelism),
                "max_active_tasks_per_dag": str(parallelism),
                "fernet_key": keys["fernet_key"],
                "simple_auth_manager_users": f"{user}:admin",
                "simple_auth_manager_passwords_file": str(passwords),
                "execution_api_server_url": f"{base}/execution/",
                "dagbag_import_timeout": "60",
            },
            # Without asyncpg installed Airflow's derived async URL fails: psycopg 3 does both.
            "database": {
                "sql_alchemy_conn": db_url,
                "sql_alchemy_conn_async": _async_url(db_url),
                # `up` migrates the database before any component starts (see migrate()): each
                # component checking again only slows the start (see B8 in benchmarks/README.md).
                "check_migrations": "False",
            },
            "api": {
                "host": LOOPBACK,
                "port": str(port),
                "base_url": base,
                "workers": "1",
                "secret_key": keys["api_secret_key"],
                "expose_config": "False",
            },
            "api_auth": {"jwt_secret": keys["jwt_secret"]},
            "logging": {
                "base_log_folder": str(state.home / "logs"),
                "logging_level": "INFO",
            },
            "scheduler": {
                "enable_health_check": "False",  # health comes from /api/v2/monitor/health
                # A loop with nothing to do sleeps this long: it is most of each task-to-task hop.
                # Shorter makes the busy loop compete with the tasks for two cores (benchmarks B1).
                "scheduler_idle_sleep_time": "0.2",
            },
            "dag_processor": {"parsing_processes": "1", "refresh_interval": "30"},
            "triggerer": {"capacity": "100"},
        }
    )
    path = state.home / "airflow.cfg"
    with open(path, "w") as fh:
        fh.write("# written by devstack.airflow_services: regenerated on every `up`\n")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND)
    with os.fdopen(fd, "a") as fh:
        cfg.write(fh)
    path.chmod(0o600)
    return path


def _async_url(db_url: str) -> str:
    scheme, rest = db_url.split("://", 1)
    if scheme.split("+")[0] in ("postgresql", "postgres"):
        return f"postgresql+psycopg://{rest}"
    return db_url


# --------------------------------------------------------------------------------------------
# PostgreSQL (local cluster unless a URL is given)
# --------------------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    found = shutil.which("initdb")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"))
    if not candidates:
        raise ServicesError("PostgreSQL binaries (initdb, pg_ctl) not found: `make system-deps`")
    return candidates[-1].parent


def _runas() -> list[str]:
    return ["runuser", "-u", "postgres", "--"] if os.geteuid() == 0 else []


def start_local_postgres(state: State) -> str:
    """A PostgreSQL cluster in ``state/pg`` (created once), started on a free port; returns its URL."""
    data = state.load()
    pg = data.get("postgres") or {}
    bindir = _pg_bindir()
    datadir = state.pg / "data"
    if not (datadir / "PG_VERSION").exists():
        state.pg.mkdir(parents=True, exist_ok=True)
        password = secrets.token_urlsafe(18)
        pwfile = state.pg / "pwfile"
        _write_private(pwfile, password + "\n")
        if os.geteuid() == 0:
            import pwd

            pw = pwd.getpwnam("postgres")
            os.chown(state.pg, pw.pw_uid, pw.pw_gid)
            os.chown(pwfile, pw.pw_uid, pw.pw_gid)
        subprocess.run(
            [*_runas(), str(bindir / "initdb"), "-D", str(datadir), "-U", "airflow", f"--pwfile={pwfile}",
             "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale", "--no-sync"],
            check=True, capture_output=True, text=True,
        )  # fmt: skip
        pwfile.unlink()
        pg = {"user": "airflow", "password": password, "port": None}
    if not _pg_running(datadir):
        port = pg.get("port") if pg.get("port") and not _port_open(pg["port"]) else _free_port()
        options = f"-p {port} -k {state.pg} -c listen_addresses={LOOPBACK} -c max_connections=100"
        result = subprocess.run(
            [*_runas(), str(bindir / "pg_ctl"), "-D", str(datadir), "-l", str(state.pg / "postgres.log"),
             "-w", "-t", "60", "-o", options, "start"],
            capture_output=True, text=True, check=False,
        )  # fmt: skip
        if result.returncode != 0:
            raise ServicesError(
                f"PostgreSQL did not start: {result.stderr}\nlog: {state.pg / 'postgres.log'}"
            )
        pg["port"] = port
        data = state.load()
        data["postgres"] = pg
        state.save(data)
        _create_database(pg)
    return f"postgresql+psycopg://{pg['user']}:{pg['password']}@{LOOPBACK}:{pg['port']}/airflow"


def _pg_running(datadir: Path) -> bool:
    pidfile = datadir / "postmaster.pid"
    if not pidfile.exists():
        return False
    pid = int(pidfile.read_text().splitlines()[0])
    return _alive(pid)


def _create_database(pg: dict[str, Any]) -> None:
    import psycopg

    with psycopg.connect(
        host=LOOPBACK, port=pg["port"], user=pg["user"], password=pg["password"], dbname="postgres",
        autocommit=True,
    ) as conn:  # fmt: skip
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = 'airflow'").fetchone():
            conn.execute("CREATE DATABASE airflow")


def stop_local_postgres(state: State) -> None:
    datadir = state.pg / "data"
    if not _pg_running(datadir):
        return
    subprocess.run(
        [*_runas(), str(_pg_bindir() / "pg_ctl"), "-D", str(datadir), "-m", "fast", "-w", "-t", "30", "stop"],
        capture_output=True, check=False,
    )  # fmt: skip


# --------------------------------------------------------------------------------------------
# processes
# --------------------------------------------------------------------------------------------


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in {"Z", "X"}


def marked_processes(state: State) -> list[int]:
    """Live processes carrying our marker in their environment (every descendant inherits it)."""
    needle = f"{MARK}={state.root}\0".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle in (entry / "environ").read_bytes() and _alive(int(entry.name)):
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
    if pid and _alive(pid):
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
            if pid and not _alive(pid):
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
    """
    started = time.monotonic()
    data = state.load()
    running = [n for n in COMPONENTS if (pid := state.pid(n)) and _alive(pid)]
    port = port or data.get("port") or _default_port()
    if not running and _port_open(port):
        raise ServicesError(f"port {port} on {LOOPBACK} is taken by another program; use --port")
    db_url = os.environ.get("MLSTACK_AIRFLOW_DB_URL") or os.environ.get("AIRFLOW_DB_URL")
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
    pids = {name: pid for name in names if (pid := state.pid(name)) and _alive(pid)}
    for pid in pids.values():
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(pid, signal.SIGTERM)
    pending = dict(pids)
    while pending and time.monotonic() - began < timeout:
        for name, pid in list(pending.items()):
            if not _alive(pid):
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
    pids = {name: pid if (pid := state.pid(name)) and _alive(pid) else None for name in COMPONENTS}
    report = health(data["port"]) if data.get("port") else None
    states = {key: ((report or {}).get(key) or {}).get("status", "unknown") for key in HEALTH_KEYS}
    url = f"http://{LOOPBACK}:{data['port']}" if data.get("port") else None
    return Status(pids, states, url, state.home)


def run_airflow(state: State, args: list[str]) -> int:
    """``airflow <args>`` against these services (``AIRFLOW_HOME`` = the state's home); its exit code."""
    env = {**os.environ, "AIRFLOW_HOME": str(state.home)}
    return subprocess.run([str(BIN / "airflow"), *args], env=env, check=False).returncode
