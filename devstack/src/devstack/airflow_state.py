"""The state folder of the native Airflow services: airflow.cfg, secrets, a local PostgreSQL.

Part of :mod:`devstack.airflow_services`. Everything a set of services needs on disk lives in one
folder: ``home/airflow.cfg`` (regenerated on every ``up``), ``state.json`` (port, generated keys,
the local cluster's login; 0600), logs, PID files and, unless a database URL is given, a
PostgreSQL cluster started from the installed binaries (as ``postgres`` via ``runuser`` when we
are root: PostgreSQL refuses to run as root).
"""

from __future__ import annotations

import hashlib
import json
import os
import secrets
import sys
import tempfile
from pathlib import Path
from typing import Any

from devstack.ports import LOOPBACK
from mlstack.airflow.dag_files import DAGS_FOLDER, PLUGINS_FOLDER
from mlstack.config import load_settings
from mlstack.errors import MlstackError


class ServicesError(MlstackError):
    """The services could not be set up or did not become healthy (the message says why)."""


def log(message: str) -> None:
    """A progress line on stderr, prefixed ``[airflow-services]``."""
    print(f"[airflow-services] {message}", file=sys.stderr, flush=True)


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


# What the services hold of the secrets the containers check (secrets_check's `airflow` and
# `client`): the admin password and the MLflow client password from the environment, .env and
# .secrets, and the three keys, generated per state folder unless AIRFLOW__* is set by hand.
# airflow-db, prediction-log-db and s3 are passwords compose builds its URLs from; natively the
# database is a local cluster with a generated login or a URL given whole, and the log is SQLite.
NATIVE_CHECK = ("airflow", "client")
_KEYS = {
    "AIRFLOW__CORE__FERNET_KEY": "fernet_key",
    "AIRFLOW__API_AUTH__JWT_SECRET": "jwt_secret",  # pragma: allowlist secret
    "AIRFLOW__API__SECRET_KEY": "api_secret_key",  # pragma: allowlist secret
}


def check_secrets_at_start(state: State, cwd: Path) -> None:
    """In production mode (MLSTACK_ENV), the container's check on the values the services would
    run with: ConfigError naming each variable before anything starts. Other modes: nothing."""
    from mlstack.secrets_check import enforce, environment, mode_of

    env = {**environment(cwd), **environment()}  # the tasks' folder, then this command's (Settings)
    if mode_of(env) != "production":
        return
    keys = _secrets(state)
    enforce(NATIVE_CHECK, {**env, **{name: os.environ.get(name) or keys[k] for name, k in _KEYS.items()}})


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


def start_local_postgres(state: State) -> str:
    """A PostgreSQL cluster in ``state/pg`` (created once, kept between ``up``s); returns its URL."""
    from devstack.postgres import start_postgres

    pg = state.load().get("postgres") or {}
    server = start_postgres(
        user="airflow",
        password=pg.get("password"),
        port=pg.get("port"),
        base_dir=state.pg,
        max_connections=100,
        throwaway=False,  # the services' metadata outlives a crash
        stop_at_exit=False,  # `services up` returns; the cluster runs until `services down`
    )
    server.create_database("airflow", exist_ok=True)
    data = state.load()
    data["postgres"] = {"user": server.user, "password": server.password, "port": server.port}
    state.save(data)
    return server.database("airflow").sqlalchemy_url


def stop_local_postgres(state: State) -> None:
    """Stop the local cluster if it runs (its data stays for the next ``up``)."""
    from devstack.postgres import PostgresCluster

    PostgresCluster(state.pg).stop(timeout=30)
