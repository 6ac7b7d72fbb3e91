"""Real servers on 127.0.0.1 for tests, benchmarks and scripts.

Plain Python (no pytest import): every ``start_*`` function returns a small dataclass that knows
its URLs and credentials and has a ``stop()`` that stops the process by its PID and checks that
nothing is left. ``tests/conftest.py`` wraps them as pytest fixtures.

What is here:

- :func:`free_port` — a free TCP port on 127.0.0.1.
- :class:`ManagedProcess` — start a command with an env and a log file, ``wait_http``, ``stop``
  (SIGTERM to its process group, SIGKILL after a timeout), ``kill``, ``restart``, ``is_running``.
- :func:`start_postgres` -> :class:`PostgresServer` (throwaway cluster from the installed
  PostgreSQL binaries; ``create_database(name)`` -> :class:`PostgresDatabase`).
- :func:`start_s3_server` -> :class:`S3Server` (moto's server; ``create_bucket``, ``list_keys``).
- :func:`start_mlflow_server` -> :class:`MlflowServer` (``mlflow server`` on Postgres with proxied
  S3 artifacts on the moto server, optional basic auth; ``stop``/``start``/``restart``/``kill``).
- :func:`start_smtp_server` -> :class:`SmtpServer` (aiosmtpd; plain, or STARTTLS-only with a
  self-signed certificate and login).

A server that cannot be started raises :class:`ServerUnavailable` (the fixtures turn that into
``tests.support.require.unavailable``).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import secrets
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from pathlib import Path
from typing import Any

LOOPBACK = "127.0.0.1"
# The interpreter running us lives in the project's .venv: its console scripts sit next to it.
VENV_BIN = Path(sys.executable).parent

__all__ = [
    "LOOPBACK",
    "Delivery",
    "ManagedProcess",
    "MlflowServer",
    "PostgresDatabase",
    "PostgresServer",
    "S3Server",
    "ServerUnavailable",
    "SmtpServer",
    "free_port",
    "group_members",
    "list_s3_keys",
    "make_self_signed_cert",
    "pid_alive",
    "port_is_open",
    "running_stack",
    "start_mlflow_server",
    "start_postgres",
    "start_s3_server",
    "start_smtp_server",
    "venv_tool",
]


class ServerUnavailable(RuntimeError):
    """A server cannot be started on this machine (missing binary, failed start, ...)."""


# --------------------------------------------------------------------------------------------
# ports, binaries, process inspection
# --------------------------------------------------------------------------------------------

_handed_out: set[int] = set()
_ports_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` now and was not handed out before by this process."""
    with _ports_lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = sock.getsockname()[1]
            if port not in _handed_out:
                _handed_out.add(port)
                return port
    raise ServerUnavailable(f"no free port on {host}")


def port_is_open(port: int, host: str = LOOPBACK, timeout: float = 0.5) -> bool:
    """True when something accepts TCP connections on host:port."""
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def venv_tool(name: str) -> str:
    """Path of a console script of the project's venv (falls back to PATH)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ServerUnavailable(f"{name!r} is not installed (not in {VENV_BIN} nor on PATH)")


def _proc_state(pid: int) -> str | None:
    """The /proc state letter of a process, None when it does not exist."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) S ppid pgrp ..." — comm may hold spaces and parentheses.
    return stat.rsplit(")", 1)[1].split()[0]


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (PID 1 here does not reap orphans)."""
    state = _proc_state(pid)
    return state is not None and state not in {"Z", "X"}


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError, PermissionError):
            continue
        state, pgrp = fields[0], int(fields[2])
        if pgrp == pgid and state not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


def _http_status(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> int:
    request = urllib.request.Request(url, headers=dict(headers or {}))
    # No proxy for loopback whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


# Everything still running at interpreter exit is stopped (scripts that forget, Ctrl-C, ...).
_live_stoppers: dict[int, Callable[[], Any]] = {}


def _register(obj: object, stop: Callable[[], Any]) -> None:
    _live_stoppers[id(obj)] = stop


def _unregister(obj: object) -> None:
    _live_stoppers.pop(id(obj), None)


@atexit.register
def _stop_leftovers() -> None:
    for stop in list(_live_stoppers.values())[::-1]:
        with contextlib.suppress(Exception):
            stop()


# --------------------------------------------------------------------------------------------
# ManagedProcess
# --------------------------------------------------------------------------------------------


class ManagedProcess:
    """One long-running command in its own process group, logging to ``log_path``.

    ``stop()`` sends SIGTERM to the group (the command and every child it spawned), waits up to
    ``timeout`` seconds, then SIGKILLs what is left and raises if anything survives.
    ``start()`` may be called again after ``stop()``/``kill()`` (same command, same env, the log
    file is appended to).
    """

    def __init__(
        self,
        name: str,
        cmd: Sequence[str | os.PathLike[str]],
        *,
        env: Mapping[str, str] | None = None,
        cwd: str | os.PathLike[str] | None = None,
        log_dir: str | os.PathLike[str] | None = None,
        inherit_env: bool = True,
        unset_env: Sequence[str] = (),
    ) -> None:
        self.name = name
        self.cmd = [str(part) for part in cmd]
        self.env = dict(env or {})
        self.cwd = str(cwd) if cwd is not None else None
        self.inherit_env = inherit_env
        self.unset_env = tuple(unset_env)
        self.log_dir = Path(log_dir) if log_dir else Path(tempfile.mkdtemp(prefix=f"mlstack-{name}-"))
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.log_dir / f"{name}.log"
        self.starts = 0
        self.returncode: int | None = None
        self._proc: subprocess.Popen[bytes] | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, running={self.is_running()})"

    # -- lifecycle ---------------------------------------------------------------------------
    def full_env(self) -> dict[str, str]:
        base = dict(os.environ) if self.inherit_env else {}
        for key in self.unset_env:
            base.pop(key, None)
        base.update(self.env)
        return base

    def start(self) -> ManagedProcess:
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        self.returncode = None
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts}: {' '.join(self.cmd)}\n".encode())
            log.flush()
            try:
                self._proc = subprocess.Popen(
                    self.cmd,
                    env=self.full_env(),
                    cwd=self.cwd,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    start_new_session=True,  # own process group: stop() reaches the children
                )
            except OSError as exc:
                raise ServerUnavailable(f"cannot start {self.name}: {exc}") from exc
        _register(self, self.stop)
        return self

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    def is_running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def group_members(self) -> list[int]:
        """Live processes of this command's process group (the command and its children)."""
        return group_members(self._proc.pid) if self._proc is not None else []

    def _signal_group(self, sig: signal.Signals) -> None:
        assert self._proc is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._proc.pid, sig)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, SIGKILL after ``timeout``; raise if anything is left. Idempotent."""
        if self._proc is None:
            return None
        proc = self._proc
        if proc.poll() is None or group_members(proc.pid):
            self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        try:
            proc.wait(timeout=max(0.1, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            self._signal_group(signal.SIGKILL)
            proc.wait(timeout=10)
        # Children that outlived the leader (or ignored SIGTERM).
        while group_members(proc.pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if group_members(proc.pid):
            self._signal_group(signal.SIGKILL)
            kill_deadline = time.monotonic() + 5
            while group_members(proc.pid) and time.monotonic() < kill_deadline:
                time.sleep(0.05)
        left = group_members(proc.pid)
        self.returncode = proc.returncode
        _unregister(self)
        if left:
            raise RuntimeError(f"{self.name}: processes {left} survived SIGKILL")
        return self.returncode

    def kill(self) -> int | None:
        """SIGKILL the whole group at once (a crash, for reliability tests)."""
        if self._proc is None:
            return None
        self._signal_group(signal.SIGKILL)
        return self.stop(timeout=10)

    def restart(self, timeout: float = 15.0) -> ManagedProcess:
        self.stop(timeout=timeout)
        return self.start()

    # -- readiness ---------------------------------------------------------------------------
    def _check_alive(self, waiting_for: str) -> None:
        if not self.is_running():
            code = self._proc.returncode if self._proc is not None else None
            raise ServerUnavailable(
                f"{self.name} exited (code {code}) while waiting for {waiting_for}; "
                f"log {self.log_path}:\n{self.log_tail()}"
            )

    def wait_http(
        self,
        url: str,
        timeout: float = 60.0,
        *,
        accept: Callable[[int], bool] = lambda status: 200 <= status < 400,
        headers: Mapping[str, str] | None = None,
        interval: float = 0.2,
    ) -> float:
        """Poll ``url`` until its status is accepted; returns the seconds waited."""
        started = time.monotonic()
        deadline = started + timeout
        last: str = "no answer"
        while True:
            self._check_alive(url)
            try:
                status = _http_status(url, headers=headers)
                if accept(status):
                    return time.monotonic() - started
                last = f"HTTP {status}"
            except (OSError, urllib.error.URLError) as exc:
                last = repr(exc)
            if time.monotonic() > deadline:
                raise ServerUnavailable(
                    f"{self.name}: {url} not ready after {timeout:.0f}s ({last}); "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(interval)

    def wait_port(self, port: int, host: str = LOOPBACK, timeout: float = 30.0) -> float:
        """Wait until host:port accepts TCP connections; returns the seconds waited."""
        started = time.monotonic()
        while not port_is_open(port, host):
            self._check_alive(f"{host}:{port}")
            if time.monotonic() - started > timeout:
                raise ServerUnavailable(
                    f"{self.name}: {host}:{port} closed after {timeout:.0f}s; "
                    f"log {self.log_path}:\n{self.log_tail()}"
                )
            time.sleep(0.1)
        return time.monotonic() - started

    def log_tail(self, lines: int = 40) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def __enter__(self) -> ManagedProcess:
        if not self.is_running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


# --------------------------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------------------------


def _pg_bindir() -> Path:
    """Directory with initdb/pg_ctl: PATH (e.g. /usr/local/bin links) or /usr/lib/postgresql."""
    found = shutil.which("initdb") or shutil.which("initdb", path="/usr/local/bin")
    if found:
        return Path(found).resolve().parent
    candidates = sorted(
        Path("/usr/lib/postgresql").glob("*/bin/initdb"),
        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0,
    )
    if candidates:
        return candidates[-1].parent
    raise ServerUnavailable("PostgreSQL binaries (initdb, pg_ctl) not found; install them: make system-deps")


@dataclass
class PostgresDatabase:
    """One database of a :class:`PostgresServer`."""

    name: str
    url: str  # postgresql://user:password@127.0.0.1:port/name (libpq / psycopg)
    sqlalchemy_url: str  # postgresql+psycopg://user:password@127.0.0.1:port/name

    def __str__(self) -> str:
        return self.sqlalchemy_url


@dataclass
class PostgresServer:
    """A throwaway PostgreSQL cluster listening on 127.0.0.1:port (password auth over TCP)."""

    host: str
    port: int
    user: str
    password: str
    base_dir: Path  # /tmp/mlstack-pg-XXXX, removed by stop()
    data_dir: Path
    socket_dir: Path
    log_path: Path
    pid: int  # the postmaster
    bindir: Path
    _runas: list[str] = field(default_factory=list, repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        """Plain URL of the maintenance database ``postgres``."""
        return self.database("postgres").url

    @property
    def sqlalchemy_url(self) -> str:
        return self.database("postgres").sqlalchemy_url

    def database(self, name: str) -> PostgresDatabase:
        """URLs for database ``name`` (does not create it)."""
        creds = f"{self.user}:{self.password}@{self.host}:{self.port}/{name}"
        return PostgresDatabase(
            name=name,
            url=f"postgresql://{creds}",
            sqlalchemy_url=f"postgresql+psycopg://{creds}",
        )

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """A psycopg 3 connection (autocommit by default)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        return psycopg.connect(
            host=self.host,
            port=self.port,
            user=self.user,
            password=self.password,
            dbname=dbname,
            connect_timeout=10,
            **kwargs,
        )

    def create_database(self, name: str | None = None) -> PostgresDatabase:
        """Create an empty database (random name when None) and return its URLs."""
        from psycopg import sql

        name = name or f"db_{secrets.token_hex(4)}"
        with self.connect() as conn:
            conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database(name)

    def drop_database(self, name: str) -> None:
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def list_databases(self) -> list[str]:
        with self.connect() as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            return sorted(row[0] for row in rows)

    def is_running(self) -> bool:
        return not self._stopped and pid_alive(self.pid)

    def stop(self, timeout: float = 15.0, *, remove: bool = True) -> None:
        """pg_ctl stop, SIGKILL the postmaster if it lingers; remove the cluster.

        A cluster that is removed anyway stops in ``immediate`` mode (no checkpoint), one that is
        kept (``remove=False``) in ``fast`` mode.
        """
        if not self._stopped:
            mode = "immediate" if remove else "fast"
            pg_ctl = [*self._runas, str(self.bindir / "pg_ctl"), "-D", str(self.data_dir)]
            subprocess.run(
                [*pg_ctl, "-m", mode, "-w", "-t", str(int(timeout)), "stop"],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                check=False,
            )
            deadline = time.monotonic() + timeout
            while pid_alive(self.pid) and time.monotonic() < deadline:
                time.sleep(0.05)
            if pid_alive(self.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.pid, signal.SIGKILL)  # postmaster leads its own group
                with contextlib.suppress(ProcessLookupError):
                    os.kill(self.pid, signal.SIGKILL)
                time.sleep(0.5)
            left = [self.pid] if pid_alive(self.pid) else []
            left += group_members(self.pid)
            self._stopped = True
            _unregister(self)
            if left:
                raise RuntimeError(f"postgres processes {left} survived stop")
        if remove:
            shutil.rmtree(self.base_dir, ignore_errors=True)

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(
    *,
    user: str = "mlstack",
    password: str | None = None,
    port: int | None = None,
    max_connections: int = 200,
    timeout: float = 30.0,
) -> PostgresServer:
    """initdb + pg_ctl start a cluster under /tmp/mlstack-pg-XXXX (fsync off).

    As root the binaries run as the ``postgres`` user through ``runuser`` (they refuse root).
    """
    bindir = _pg_bindir()
    runas: list[str] = []
    owner: tuple[int, int] | None = None
    if os.geteuid() == 0:
        import pwd

        try:
            pw = pwd.getpwnam("postgres")
        except KeyError as exc:
            raise ServerUnavailable("running as root but there is no 'postgres' user") from exc
        runuser = shutil.which("runuser")
        if not runuser:
            raise ServerUnavailable("running as root but 'runuser' is not installed")
        runas = [runuser, "-u", "postgres", "--"]
        owner = (pw.pw_uid, pw.pw_gid)

    password = password or secrets.token_urlsafe(16)
    # /tmp, not pytest's tmp dirs: every parent of the data dir must be traversable by postgres.
    base_dir = Path(tempfile.mkdtemp(prefix="mlstack-pg-", dir="/tmp"))
    data_dir = base_dir / "data"
    log_path = base_dir / "postgres.log"
    pwfile = base_dir / "pwfile"
    pwfile.write_text(password + "\n")
    pwfile.chmod(0o600)
    if owner:
        os.chown(base_dir, *owner)
        os.chown(pwfile, *owner)

    def run(cmd: list[str], what: str) -> None:
        result = subprocess.run([*runas, *cmd], capture_output=True, text=True, check=False, timeout=120)
        if result.returncode != 0:
            shutil.rmtree(base_dir, ignore_errors=True)
            raise ServerUnavailable(
                f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}"
                + (f"\n{log_path.read_text()[-2000:]}" if log_path.exists() else "")
            )

    run(
        [
            str(bindir / "initdb"),
            "-D",
            str(data_dir),
            "-U",
            user,
            f"--pwfile={pwfile}",
            "--auth-local=trust",
            "--auth-host=scram-sha-256",
            "--encoding=UTF8",
            "--no-locale",
            "--no-sync",
        ],
        "initdb",
    )
    pwfile.unlink()

    last_error: ServerUnavailable | None = None
    for attempt in range(3):
        chosen = port if (port and attempt == 0) else free_port()
        options = " ".join(
            [
                f"-p {chosen}",
                f"-k {base_dir}",
                f"-c listen_addresses={LOOPBACK}",
                f"-c max_connections={max_connections}",
                "-c fsync=off",
                "-c synchronous_commit=off",
                "-c full_page_writes=off",
            ]
        )
        pg_ctl = [*runas, str(bindir / "pg_ctl"), "-D", str(data_dir), "-l", str(log_path)]
        result = subprocess.run(
            [*pg_ctl, "-w", "-t", str(int(timeout)), "-o", options, "start"],
            capture_output=True,
            text=True,
            check=False,
        )
        pidfile = data_dir / "postmaster.pid"
        if result.returncode == 0 and pidfile.exists():
            server = PostgresServer(
                host=LOOPBACK,
                port=chosen,
                user=user,
                password=password,
                base_dir=base_dir,
                data_dir=data_dir,
                socket_dir=base_dir,
                log_path=log_path,
                pid=int(pidfile.read_text().splitlines()[0]),
                bindir=bindir,
                _runas=runas,
            )
            _register(server, server.stop)
            return server
        log = log_path.read_text()[-2000:] if log_path.exists() else ""
        last_error = ServerUnavailable(
            f"pg_ctl start failed ({result.returncode}): {result.stderr.strip()}\n{log}"
        )
        if "could not bind" not in log and "already in use" not in log:
            break
    shutil.rmtree(base_dir, ignore_errors=True)
    assert last_error is not None
    raise last_error


# --------------------------------------------------------------------------------------------
# S3 (moto's server)
# --------------------------------------------------------------------------------------------


def _s3_client(endpoint_url: str, access_key_id: str, secret_access_key: str, region: str) -> Any:
    import boto3

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        region_name=region,
    )


def list_s3_keys(
    endpoint_url: str,
    bucket: str,
    prefix: str = "",
    *,
    access_key_id: str = "testing",
    secret_access_key: str = "testing",
    region: str = "us-east-1",
) -> list[str]:
    """Sorted object keys under ``prefix`` in ``bucket`` (all pages)."""
    client = _s3_client(endpoint_url, access_key_id, secret_access_key, region)
    keys: list[str] = []
    for page in client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix):
        keys.extend(obj["Key"] for obj in page.get("Contents", []))
    return sorted(keys)


@dataclass
class S3Server:
    """moto's S3-compatible server on 127.0.0.1 with dummy credentials."""

    host: str
    port: int
    endpoint_url: str
    access_key_id: str
    secret_access_key: str
    region: str
    process: ManagedProcess = field(repr=False)

    def client(self) -> Any:
        """A boto3 S3 client for this server."""
        return _s3_client(self.endpoint_url, self.access_key_id, self.secret_access_key, self.region)

    def create_bucket(self, name: str | None = None) -> str:
        """Create a bucket (random name when None) and return its name."""
        name = name or f"bucket-{secrets.token_hex(4)}"
        self.client().create_bucket(Bucket=name)
        return name

    def list_keys(self, bucket: str, prefix: str = "") -> list[str]:
        """Sorted object keys under ``prefix``."""
        return list_s3_keys(
            self.endpoint_url,
            bucket,
            prefix,
            access_key_id=self.access_key_id,
            secret_access_key=self.secret_access_key,
            region=self.region,
        )

    def env(self) -> dict[str, str]:
        """Environment for a process that talks to this S3 (boto3 and MLflow)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_DEFAULT_REGION": self.region,
            "AWS_ENDPOINT_URL_S3": self.endpoint_url,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint_url,
        }

    def is_running(self) -> bool:
        return self.process.is_running()

    def stop(self, timeout: float = 10.0) -> None:
        self.process.stop(timeout=timeout)

    def __enter__(self) -> S3Server:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_s3_server(
    *, port: int | None = None, log_dir: str | os.PathLike[str] | None = None, timeout: float = 30.0
) -> S3Server:
    """Start ``moto_server -H 127.0.0.1 -p <port>`` and wait until it answers."""
    moto = venv_tool("moto_server")
    port = port or free_port()
    process = ManagedProcess("moto", [moto, "-H", LOOPBACK, "-p", str(port)], log_dir=log_dir).start()
    endpoint = f"http://{LOOPBACK}:{port}"
    try:
        process.wait_http(f"{endpoint}/moto-api/", timeout=timeout, accept=lambda s: s < 500)
    except BaseException:
        process.stop()
        raise
    return S3Server(
        host=LOOPBACK,
        port=port,
        endpoint_url=endpoint,
        access_key_id="testing",
        secret_access_key="testing",
        region="us-east-1",
        process=process,
    )


# --------------------------------------------------------------------------------------------
# MLflow tracking server
# --------------------------------------------------------------------------------------------


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
        return f"{self.tracking_uri}/health"

    @property
    def log_path(self) -> Path:
        return self.process.log_path

    def client_env(self) -> dict[str, str]:
        """Environment for an MLflow client of this server (no S3 keys needed)."""
        env = {"MLFLOW_TRACKING_URI": self.tracking_uri}
        if self.auth:
            env["MLFLOW_TRACKING_USERNAME"] = self.username or ""
            env["MLFLOW_TRACKING_PASSWORD"] = self.password or ""
        return env

    def is_running(self) -> bool:
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


# --------------------------------------------------------------------------------------------
# SMTP (aiosmtpd)
# --------------------------------------------------------------------------------------------


def make_self_signed_cert(
    directory: str | os.PathLike[str],
    *,
    hostnames: Sequence[str] = ("localhost",),
    ips: Sequence[str] = (LOOPBACK,),
    days: int = 2,
) -> tuple[Path, Path]:
    """Write ``cert.pem`` and ``key.pem`` (EC P-256, SAN = hostnames + ips); returns paths."""
    import datetime
    import ipaddress

    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, hostnames[0] if hostnames else ips[0])])
    now = datetime.datetime.now(datetime.UTC)
    san = [x509.DNSName(h) for h in hostnames] + [x509.IPAddress(ipaddress.ip_address(i)) for i in ips]
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=days))
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = directory / "cert.pem", directory / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    key_path.chmod(0o600)
    return cert_path, key_path


@dataclass
class Delivery:
    """One accepted mail transaction."""

    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage
    login: str | None  # the AUTH user of the session, if any


class _Mailbox:
    """aiosmtpd handler: parses every message and wakes waiters."""

    def __init__(self) -> None:
        self.deliveries: list[Delivery] = []
        self.messages: list[EmailMessage] = []
        self.cond = threading.Condition()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        raw = envelope.original_content or envelope.content
        if isinstance(raw, str):
            raw = raw.encode()
        message = message_from_bytes(raw, policy=email_policy.default)
        assert isinstance(message, EmailMessage)
        login = session.login_data if session.authenticated else None
        if isinstance(login, bytes):
            login = login.decode()
        delivery = Delivery(envelope.mail_from, list(envelope.rcpt_tos), message, login)
        with self.cond:
            self.deliveries.append(delivery)
            self.messages.append(message)
            self.cond.notify_all()
        return "250 Message accepted for delivery"


@dataclass
class SmtpServer:
    """An aiosmtpd server in a thread of this process, collecting what it receives."""

    host: str
    port: int
    starttls: bool  # True: STARTTLS required before MAIL/AUTH
    username: str | None  # None: AUTH not required (the plain server accepts any login)
    password: str | None
    cert_path: Path | None  # self-signed certificate (trust it with ssl cafile=cert_path)
    key_path: Path | None
    messages: list[EmailMessage]  # parsed, in arrival order (live list)
    deliveries: list[Delivery]  # same, with envelope and login
    _mailbox: _Mailbox = field(repr=False)
    _controller: Any = field(repr=False)
    _stopped: bool = field(default=False, repr=False)

    @property
    def url(self) -> str:
        return f"smtp://{self.host}:{self.port}"

    def wait_for(self, n: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Block until at least ``n`` messages arrived; returns a copy of the list."""
        with self._mailbox.cond:
            if not self._mailbox.cond.wait_for(lambda: len(self.messages) >= n, timeout=timeout):
                raise TimeoutError(
                    f"SMTP {self.url}: {len(self.messages)} message(s) after {timeout}s, expected {n}"
                )
            return list(self.messages)

    def clear(self) -> None:
        with self._mailbox.cond:
            self.messages.clear()
            self.deliveries.clear()

    def client_ssl_context(self) -> ssl.SSLContext:
        """A verifying client context that trusts this server's self-signed certificate."""
        if self.cert_path is None:
            raise RuntimeError("plain SMTP server has no certificate")
        return ssl.create_default_context(cafile=str(self.cert_path))

    def is_running(self) -> bool:
        return not self._stopped and port_is_open(self.port, self.host)

    def stop(self) -> None:
        if self._stopped:
            return
        self._controller.stop()
        self._stopped = True
        _unregister(self)
        if port_is_open(self.port, self.host):
            raise RuntimeError(f"SMTP server still listening on {self.host}:{self.port}")

    def __enter__(self) -> SmtpServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_smtp_server(
    *,
    starttls: bool = False,
    username: str | None = None,
    password: str | None = None,
    cert_dir: str | os.PathLike[str] | None = None,
    port: int | None = None,
) -> SmtpServer:
    """Start an aiosmtpd server on 127.0.0.1.

    Plain (``starttls=False``): no TLS; AUTH is offered and any login accepted unless
    ``username``/``password`` are given (then only those), never required — Airflow's SMTP
    connection with a user and ``disable_tls=true`` works against it.
    STARTTLS (``starttls=True``): Gmail-style — a fresh self-signed certificate, STARTTLS required
    before anything else, and AUTH required (credentials generated when not given).
    """
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import AuthResult, LoginPassword

    if starttls:
        username = username or "mailer@example.test"
        password = password or secrets.token_urlsafe(12)

    def authenticator(server: Any, session: Any, envelope: Any, mechanism: str, data: Any) -> Any:
        if not isinstance(data, LoginPassword):
            return AuthResult(success=False, handled=False)
        if username is None:  # plain server without credentials: accept anyone
            return AuthResult(success=True, auth_data=data)
        ok = secrets.compare_digest(data.login, username.encode()) and secrets.compare_digest(
            data.password, (password or "").encode()
        )
        return AuthResult(success=ok, handled=False, auth_data=data if ok else None)

    kwargs: dict[str, Any] = {"authenticator": authenticator}
    cert_path = key_path = None
    if starttls:
        cert_path, key_path = make_self_signed_cert(cert_dir or tempfile.mkdtemp(prefix="mlstack-smtp-tls-"))
        tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        tls.load_cert_chain(str(cert_path), str(key_path))
        kwargs.update(tls_context=tls, require_starttls=True, auth_required=True, auth_require_tls=True)
    else:
        kwargs.update(auth_required=False, auth_require_tls=False)

    mailbox = _Mailbox()
    last_exc: Exception | None = None
    for attempt in range(3):
        chosen = port if (port and attempt == 0) else free_port()
        # port=0 does not work with Controller (its readiness probe connects to `port`).
        controller = Controller(mailbox, hostname=LOOPBACK, port=chosen, **kwargs)
        try:
            controller.start()
        except Exception as exc:  # bind race: try another port
            last_exc = exc
            with contextlib.suppress(Exception):
                controller.stop()
            continue
        server = SmtpServer(
            host=LOOPBACK,
            port=chosen,
            starttls=starttls,
            username=username,
            password=password,
            cert_path=cert_path,
            key_path=key_path,
            messages=mailbox.messages,
            deliveries=mailbox.deliveries,
            _mailbox=mailbox,
            _controller=controller,
        )
        _register(server, server.stop)
        return server
    raise ServerUnavailable(f"aiosmtpd could not start: {last_exc!r}")


# --------------------------------------------------------------------------------------------
# context-manager conveniences for scripts and benchmarks
# --------------------------------------------------------------------------------------------


@contextlib.contextmanager
def running_stack(*, auth: bool = False) -> Iterator[tuple[PostgresServer, S3Server, MlflowServer]]:
    """Postgres + moto + MLflow for a script: ``with running_stack() as (pg, s3, mlflow): ...``"""
    with (
        start_postgres() as pg,
        start_s3_server() as s3,
        start_mlflow_server(pg, s3, auth=auth) as mlflow,
    ):
        yield pg, s3, mlflow
