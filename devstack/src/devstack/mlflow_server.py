"""``mlflow server`` on PostgreSQL with artifacts proxied to S3 (``--serve-artifacts``).

Clients need only the tracking URI (plus a login with basic auth): the S3 keys live in the
server's environment only. The server is a :class:`ManagedProcess` so fault tests can kill it and
start it again on the same port, database and bucket.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import subprocess
import sys
import tempfile
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from devstack import ServerUnavailable
from devstack.ports import LOOPBACK, free_port
from devstack.postgres import PostgresServer, start_postgres
from devstack.processes import VENV_BIN, ManagedProcess, venv_tool
from devstack.s3 import S3Server, start_s3_server


@dataclass
class MlflowServer:
    """``mlflow server`` on Postgres with artifacts proxied to S3 (``--serve-artifacts``).

    Clients need only ``tracking_uri`` (plus ``username``/``password`` when ``auth``): the S3
    keys live in the server's environment only.
    """

    host: str
    port: int
    tracking_uri: str  # http://127.0.0.1:<port>
    backend_store_uri: str  # postgresql+psycopg://... (the MLflow database)
    database: str
    bucket: str
    artifacts_destination: str  # s3://<bucket>/mlflow
    s3_endpoint_url: str
    auth: bool
    username: str | None
    password: str | None
    auth_database_uri: str | None
    process: ManagedProcess = field(repr=False)
    start_timeout: float = 120.0

    @property
    def health_url(self) -> str:
        """GET here answers 200 when the server is up."""
        return f"{self.tracking_uri}/health"

    @property
    def log_path(self) -> Path:
        """The server's log file."""
        return self.process.log_path

    def client_env(self) -> dict[str, str]:
        """Environment for an MLflow client of this server (no S3 keys needed)."""
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri}
        if self.auth:
            env["MLFLOW_TRACKING_USERNAME"] = self.username or ""
            env["MLFLOW_TRACKING_PASSWORD"] = self.password or ""
        return env

    def is_running(self) -> bool:
        """True while the server process runs."""
        return self.process.is_running()

    def wait_ready(self, timeout: float | None = None) -> float:
        """Wait for GET /health == 200; returns the seconds waited."""
        return self.process.wait_http(
            self.health_url, timeout=timeout or self.start_timeout, accept=lambda s: s == 200
        )

    def start(self, timeout: float | None = None) -> float:
        """(Re)start the same server (same port, database, bucket); returns seconds to healthy."""
        self.process.start()
        try:
            return self.wait_ready(timeout)
        except BaseException:
            self.process.stop()
            raise

    def stop(self, timeout: float = 20.0) -> int | None:
        """Graceful stop (SIGTERM to the process group, SIGKILL after ``timeout``)."""
        return self.process.stop(timeout=timeout)

    def kill(self) -> int | None:
        """Crash it: SIGKILL the whole process group."""
        return self.process.kill()

    def restart(self, timeout: float | None = None) -> float:
        """Graceful stop, then start again; returns seconds to healthy."""
        self.stop()
        return self.start(timeout)

    def __enter__(self) -> MlflowServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _check_auth_extra(env: Mapping[str, str]) -> None:
    """The basic-auth app needs the ``mlflow[auth]`` extra (Flask-WTF) in the server's Python."""
    python = str(VENV_BIN / "python") if (VENV_BIN / "python").exists() else sys.executable
    probe = subprocess.run(
        [python, "-c", "import flask_wtf"], env=dict(env), capture_output=True, check=False
    )
    if probe.returncode != 0:
        raise ServerUnavailable(
            "MLflow basic auth needs the mlflow[auth] extra (Flask-WTF), which is not installed "
            "in the project's environment"
        )


def start_mlflow_server(
    postgres: PostgresServer,
    s3: S3Server,
    *,
    auth: bool = False,
    database: str | None = None,
    bucket: str | None = None,
    port: int | None = None,
    log_dir: str | os.PathLike[str] | None = None,
    extra_args: Sequence[str] = (),
    extra_env: Mapping[str, str] | None = None,
    wait: bool = True,
    timeout: float = 120.0,
) -> MlflowServer:
    """Start ``mlflow server`` on a fresh Postgres database and a (new) bucket of ``s3``.

    ``wait=False`` returns as soon as the process is spawned (call ``wait_ready()``), so several
    servers can boot in parallel.
    """
    mlflow = venv_tool("mlflow")
    if auth:
        _check_auth_extra({**os.environ, **(extra_env or {})})
    tag = secrets.token_hex(4)
    db = postgres.create_database(database or f"mlflow_{tag}")
    bucket = bucket or s3.create_bucket(f"mlflow-{tag}")
    port = port or free_port()
    log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix="mlstack-mlflow-"))
    log_dir.mkdir(parents=True, exist_ok=True)

    env = {
        **s3.env(),  # the SERVER holds the S3 keys; clients go through --serve-artifacts
        "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        "MLFLOW_DISABLE_TELEMETRY": "true",
        "DO_NOT_TRACK": "true",
        "PYTHONUNBUFFERED": "1",
    }
    cmd = [
        mlflow,
        "server",
        "--host",
        LOOPBACK,
        "--port",
        str(port),
        "--workers",
        "1",
        "--backend-store-uri",
        db.sqlalchemy_url,
        "--serve-artifacts",
        "--artifacts-destination",
        f"s3://{bucket}/mlflow",
    ]
    username = password = auth_db_uri = None
    if auth:
        auth_db = postgres.create_database(f"{db.name}_auth")
        auth_db_uri = auth_db.sqlalchemy_url
        username, password = "admin", secrets.token_urlsafe(18)
        config = log_dir / "basic_auth.ini"
        config.write_text(
            "[mlflow]\n"
            "default_permission = READ\n"
            f"database_uri = {auth_db_uri}\n"
            f"admin_username = {username}\n"
            "authorization_function = mlflow.server.auth:authenticate_request_basic_auth\n"
        )
        config.chmod(0o600)
        env.update(
            {
                "MLFLOW_AUTH_CONFIG_PATH": str(config),
                "MLFLOW_AUTH_ADMIN_PASSWORD": password,
                "MLFLOW_FLASK_SERVER_SECRET_KEY": secrets.token_hex(32),
            }
        )
        cmd += ["--app-name", "basic-auth"]
    cmd += list(extra_args)
    env.update(extra_env or {})

    process = ManagedProcess(
        "mlflow",
        cmd,
        env=env,
        cwd=log_dir,  # anything MLflow writes relative to cwd stays in the tmp dir
        log_dir=log_dir,
        # A client-side setting in our own env must not leak into the server.
        unset_env=(
            "MLFLOW_TRACKING_URI",
            "MLFLOW_TRACKING_USERNAME",
            "MLFLOW_TRACKING_PASSWORD",
        ),
    )
    server = MlflowServer(
        host=LOOPBACK,
        port=port,
        tracking_uri=f"http://{LOOPBACK}:{port}",
        backend_store_uri=db.sqlalchemy_url,
        database=db.name,
        bucket=bucket,
        artifacts_destination=f"s3://{bucket}/mlflow",
        s3_endpoint_url=s3.endpoint_url,
        auth=auth,
        username=username,
        password=password,
        auth_database_uri=auth_db_uri,
        process=process,
        start_timeout=timeout,
    )
    process.start()
    if wait:
        try:
            server.wait_ready()
        except BaseException:
            process.stop()
            raise
    return server


@contextlib.contextmanager
def running_stack(*, auth: bool = False) -> Iterator[tuple[PostgresServer, S3Server, MlflowServer]]:
    """Postgres + S3 (SeaweedFS) + MLflow for a script: ``with running_stack() as (pg, s3, mlflow): ...``"""
    with (
        start_postgres() as pg,
        start_s3_server() as s3,
        start_mlflow_server(pg, s3, auth=auth) as mlflow,
    ):
        yield pg, s3, mlflow
