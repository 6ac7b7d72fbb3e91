"""Root fixtures: real servers on 127.0.0.1, started on demand and stopped by PID.

Nothing starts unless a test asks for it. Session-scoped servers are shared by every test of a
pytest process (each xdist worker gets its own). A server that cannot start here goes through
``tests.support.require.unavailable``: skipped locally, a failure under CI=true.

Fixtures (the dataclasses come from the ``devstack`` package, devstack/src/devstack):

- ``postgres``               session  PostgresServer   (``.create_database(name)``)
- ``s3_server``              session  S3Server         (``.create_bucket()``, ``.list_keys()``)
- ``mlflow_server_factory``  session  callable(auth=False, **kw) -> MlflowServer (fresh server)
- ``mlflow_server``          session  MlflowServer     (plain)
- ``mlflow_auth_server``     session  MlflowServer     (basic auth; ``.username``/``.password``)
- ``smtp_server_session`` / ``smtp_server``                    plain SMTP (function scope: emptied)
- ``smtp_starttls_server_session`` / ``smtp_starttls_server``  STARTTLS + AUTH required
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from devstack import ServerUnavailable
from devstack.mlflow_server import MlflowServer, start_mlflow_server
from devstack.postgres import PostgresServer, start_postgres
from devstack.processes import live_descendants
from devstack.s3 import S3Server, start_s3_server
from devstack.smtp import SmtpServer, start_smtp_server
from tests.support.require import unavailable

# Helpers that end with this interpreter (multiprocessing's tracker, joblib's loky pool), not servers.
_ENDS_WITH_US = ("multiprocessing", "loky", "joblib")


def _cmdline(pid: int) -> str:
    try:
        return (
            (Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ")).decode(errors="replace").strip()
        )
    except OSError:
        return ""


@pytest.fixture(scope="session", autouse=True)
def no_process_left_behind() -> Iterator[None]:
    """A test run leaves no process behind: a child of pytest alive after the last teardown fails it.

    Set up first, so torn down last (after every server fixture). Each xdist worker checks its
    own children. What is left is killed, then reported as an error of the last test.
    """
    yield
    left = {pid: _cmdline(pid) for pid in live_descendants(os.getpid())}
    left = {pid: cmd for pid, cmd in left.items() if cmd and not any(k in cmd for k in _ENDS_WITH_US)}
    for pid in left:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)
    listing = "\n".join(f"  {pid}: {cmd[:200]}" for pid, cmd in sorted(left.items()))
    assert not left, f"processes left behind by the tests (now killed):\n{listing}"


def _start(what: str, start: Callable[[], Any]) -> Any:
    try:
        return start()
    except ServerUnavailable as exc:
        reason = f"{what} cannot start here: {exc}"
    unavailable(reason)  # outside the except block: no chained traceback
    raise AssertionError("unreachable: unavailable() skips or fails")


def _assert_stopped(what: str, server: Any) -> None:
    assert not server.is_running(), f"{what} still running after stop()"


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    """A throwaway PostgreSQL cluster (fsync off); ``create_database(name)`` gives URLs."""
    server = _start("PostgreSQL", start_postgres)
    yield server
    server.stop()
    _assert_stopped("PostgreSQL", server)
    assert not server.base_dir.exists(), f"cluster dir {server.base_dir} left behind"


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """SeaweedFS's S3 gateway (SigV4 checked); keys in ``.access_key_id``/``.secret_access_key``."""
    server = _start("SeaweedFS S3 server", lambda: start_s3_server(log_dir=tmp_path_factory.mktemp("s3")))
    yield server
    server.stop()
    _assert_stopped("SeaweedFS S3 server", server)


@pytest.fixture(scope="session")
def mlflow_server_factory(
    postgres: PostgresServer, s3_server: S3Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., MlflowServer]]:
    """``factory(auth=False, **kwargs)`` starts a fresh MLflow server (own database + bucket).

    Every server it made is stopped at the end of the session; tests may also stop, kill and
    restart them (``.stop()``, ``.kill()``, ``.start()``, ``.restart()``).
    """
    started: list[MlflowServer] = []

    def factory(*, auth: bool = False, **kwargs: Any) -> MlflowServer:
        kwargs.setdefault("log_dir", tmp_path_factory.mktemp("mlflow-auth" if auth else "mlflow"))
        server = _start(
            "MLflow server",
            lambda: start_mlflow_server(postgres, s3_server, auth=auth, **kwargs),
        )
        started.append(server)
        return server

    yield factory
    for server in started:
        server.stop()
        _assert_stopped("MLflow server", server)


@pytest.fixture(scope="session")
def mlflow_server(mlflow_server_factory: Callable[..., MlflowServer]) -> MlflowServer:
    """The shared plain MLflow server (Postgres backend, S3 artifacts proxied by the server).

    Tests that stop or kill a server should take their own from ``mlflow_server_factory``.
    """
    return mlflow_server_factory()


@pytest.fixture(scope="session")
def mlflow_auth_server(mlflow_server_factory: Callable[..., MlflowServer]) -> MlflowServer:
    """A shared MLflow server with basic auth (admin = ``.username``/``.password``)."""
    return mlflow_server_factory(auth=True)


@pytest.fixture(scope="session")
def smtp_server_session() -> Iterator[SmtpServer]:
    """Plain SMTP for the whole session (for session-scoped services that mail)."""
    server = _start("SMTP server", start_smtp_server)
    yield server
    server.stop()
    _assert_stopped("SMTP server", server)


@pytest.fixture
def smtp_server(smtp_server_session: SmtpServer) -> SmtpServer:
    """Plain SMTP (no TLS; any login accepted), mailbox emptied for this test."""
    smtp_server_session.clear()
    return smtp_server_session


@pytest.fixture(scope="session")
def smtp_starttls_server_session(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SmtpServer]:
    """STARTTLS-only SMTP with AUTH required, self-signed cert, for the whole session."""
    server = _start(
        "STARTTLS SMTP server",
        lambda: start_smtp_server(starttls=True, cert_dir=tmp_path_factory.mktemp("smtp-tls")),
    )
    yield server
    server.stop()
    _assert_stopped("STARTTLS SMTP server", server)


@pytest.fixture
def smtp_starttls_server(smtp_starttls_server_session: SmtpServer) -> SmtpServer:
    """Gmail-style SMTP: STARTTLS required, then login ``.username``/``.password``; emptied."""
    smtp_starttls_server_session.clear()
    return smtp_starttls_server_session
