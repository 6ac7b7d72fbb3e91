"""A local PostgreSQL cluster from the installed binaries: throwaway for tests, or kept for services.

Ours rather than pytest-postgresql's executor: PostgreSQL refuses to run as root, and this machine
(and CI) runs as root, so ``initdb`` and ``pg_ctl`` run as ``postgres`` through ``runuser`` on a
directory handed to that user; pytest-postgresql calls the binaries directly, with no such hook.

:func:`start_postgres` without ``base_dir``: a fresh cluster under /tmp, fsync off, removed by
``stop()``. With ``base_dir`` (``throwaway=False, stop_at_exit=False``): created on the first call,
started again later with the same password, stopped from any process by
``PostgresCluster(base_dir).stop()``.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack import ServerUnavailable, processes
from devstack.ports import LOOPBACK, free_port, port_is_open
from devstack.processes import forget_at_exit, group_members, pid_alive


def pg_bindir() -> Path:
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


def _postgres_owner() -> tuple[list[str], tuple[int, int] | None]:
    """(command prefix, uid/gid) to run the binaries as ``postgres`` when we are root."""
    if os.geteuid() != 0:
        return [], None
    import pwd

    try:
        pw = pwd.getpwnam("postgres")
    except KeyError as exc:
        raise ServerUnavailable("running as root but there is no 'postgres' user") from exc
    runuser = shutil.which("runuser")
    if not runuser:
        raise ServerUnavailable("running as root but 'runuser' is not installed")
    return [runuser, "-u", "postgres", "--"], (pw.pw_uid, pw.pw_gid)


def _read_tail(path: Path, chars: int = 2000) -> str:
    return path.read_text(errors="replace")[-chars:] if path.exists() else ""


@dataclass
class PostgresCluster:
    """One data directory (``base_dir/data``) driven by ``initdb`` and ``pg_ctl``.

    Every parent of ``base_dir`` must be traversable by ``postgres`` when we are root (pytest's
    tmp dirs are 0700: use /tmp).
    """

    base_dir: Path
    bindir: Path = field(default_factory=pg_bindir)

    def __post_init__(self) -> None:
        self.base_dir = Path(self.base_dir)
        self._runas, self._owner = _postgres_owner()

    @property
    def data_dir(self) -> Path:
        """The PGDATA directory."""
        return self.base_dir / "data"

    @property
    def log_path(self) -> Path:
        """The postmaster's log file."""
        return self.base_dir / "postgres.log"

    @property
    def socket_dir(self) -> Path:
        """Where the Unix socket lives (the cluster directory)."""
        return self.base_dir

    def _run(self, *args: str, what: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
        cmd = [*self._runas, str(self.bindir / args[0]), *args[1:]]
        result = subprocess.run(cmd, capture_output=True, text=True, check=False, timeout=timeout)
        if result.returncode != 0:
            raise ServerUnavailable(
                f"{what} failed ({result.returncode}): {result.stderr.strip()[-2000:]}\n"
                f"{_read_tail(self.log_path)}"
            )
        return result

    def initialized(self) -> bool:
        """True when ``initdb`` ran here before."""
        return (self.data_dir / "PG_VERSION").exists()

    def init(self, user: str, password: str) -> None:
        """``initdb``: superuser ``user`` with ``password`` over TCP (scram), trust on the socket."""
        self.base_dir.mkdir(parents=True, exist_ok=True)
        pwfile = self.base_dir / "pwfile"
        fd = os.open(pwfile, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(password + "\n")
        if self._owner:
            os.chown(self.base_dir, *self._owner)
            os.chown(pwfile, *self._owner)
        try:
            self._run(
                "initdb", "-D", str(self.data_dir), "-U", user, f"--pwfile={pwfile}",
                "--auth-local=trust", "--auth-host=scram-sha-256", "--encoding=UTF8", "--no-locale",
                "--no-sync",
                what="initdb",
            )  # fmt: skip
        finally:
            pwfile.unlink(missing_ok=True)

    def postmaster_pid(self) -> int | None:
        """PID of the running postmaster of this cluster, None when it is not running."""
        pidfile = self.data_dir / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            return None
        return pid if pid_alive(pid) else None

    def start(
        self, port: int, *, max_connections: int = 200, throwaway: bool = True, timeout: float = 30
    ) -> int:
        """``pg_ctl start`` on 127.0.0.1:``port``; returns the postmaster's PID.

        ``throwaway`` turns off fsync and friends: nothing survives a crash, which a cluster
        deleted after the run never needs.
        """
        options = [f"-p {port}", f"-k {self.socket_dir}", f"-c listen_addresses={LOOPBACK}"]
        options.append(f"-c max_connections={max_connections}")
        if throwaway:
            options += ["-c fsync=off", "-c synchronous_commit=off", "-c full_page_writes=off"]
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-l", str(self.log_path), "-w", "-t", str(int(timeout)),
            "-o", " ".join(options), "start",
            what="pg_ctl start", timeout=timeout + 30,
        )  # fmt: skip
        pid = self.postmaster_pid()
        if pid is None:
            raise ServerUnavailable(
                f"pg_ctl start returned but no postmaster runs\n{_read_tail(self.log_path)}"
            )
        return pid

    def restart(self, timeout: float = 60) -> int:
        """``pg_ctl restart -m fast`` (every open connection is cut); returns the new PID."""
        self._run(
            "pg_ctl", "-D", str(self.data_dir), "-m", "fast", "-w", "-t", str(int(timeout)),
            "-l", str(self.log_path), "restart",
            what="pg_ctl restart", timeout=timeout + 10,
        )  # fmt: skip
        pid = self.postmaster_pid()
        assert pid is not None
        return pid

    def stop(self, mode: str = "fast", timeout: float = 15) -> None:
        """``pg_ctl stop -m mode``, SIGKILL if the postmaster lingers; raise if a process is left."""
        pid = self.postmaster_pid()
        if pid is None:
            return
        subprocess.run(
            [*self._runas, str(self.bindir / "pg_ctl"), "-D", str(self.data_dir), "-m", mode, "-w",
             "-t", str(int(timeout)), "stop"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False,
        )  # fmt: skip
        deadline = time.monotonic() + timeout
        while pid_alive(pid) and time.monotonic() < deadline:
            time.sleep(0.05)
        if pid_alive(pid):
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)  # the postmaster leads its own group
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
            time.sleep(0.5)
        left = ([pid] if pid_alive(pid) else []) + group_members(pid)
        if left:
            raise RuntimeError(f"postgres processes {left} survived stop")

    def remove(self) -> None:
        """Delete the cluster directory (stop it first)."""
        shutil.rmtree(self.base_dir, ignore_errors=True)


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
    """A running cluster listening on 127.0.0.1:port (password auth over TCP)."""

    host: str
    port: int
    user: str
    password: str
    cluster: PostgresCluster
    pid: int  # the postmaster
    remove_on_stop: bool = True
    _stopped: bool = field(default=False, repr=False)

    @property
    def base_dir(self) -> Path:
        """The cluster directory."""
        return self.cluster.base_dir

    @property
    def data_dir(self) -> Path:
        """The PGDATA directory."""
        return self.cluster.data_dir

    @property
    def log_path(self) -> Path:
        """The postmaster's log file."""
        return self.cluster.log_path

    @property
    def url(self) -> str:
        """Plain URL of the maintenance database ``postgres``."""
        return self.database("postgres").url

    @property
    def sqlalchemy_url(self) -> str:
        """SQLAlchemy URL (psycopg 3) of the maintenance database ``postgres``."""
        return self.database("postgres").sqlalchemy_url

    def database(self, name: str) -> PostgresDatabase:
        """URLs for database ``name`` (does not create it)."""
        creds = f"{self.user}:{self.password}@{self.host}:{self.port}/{name}"
        return PostgresDatabase(
            name=name, url=f"postgresql://{creds}", sqlalchemy_url=f"postgresql+psycopg://{creds}"
        )

    def connect(self, dbname: str = "postgres", **kwargs: Any) -> Any:
        """A psycopg 3 connection (autocommit by default)."""
        import psycopg

        kwargs.setdefault("autocommit", True)
        return psycopg.connect(
            host=self.host, port=self.port, user=self.user, password=self.password, dbname=dbname,
            connect_timeout=10, **kwargs,
        )  # fmt: skip

    def create_database(self, name: str | None = None, *, exist_ok: bool = False) -> PostgresDatabase:
        """Create an empty database (random name when None) and return its URLs."""
        from psycopg import sql

        name = name or f"db_{secrets.token_hex(4)}"
        with self.connect() as conn:
            exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
            if not (exists and exist_ok):
                conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
        return self.database(name)

    def drop_database(self, name: str) -> None:
        """Drop database ``name`` (open connections are closed), if it exists."""
        from psycopg import sql

        with self.connect() as conn:
            conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def list_databases(self) -> list[str]:
        """Sorted names of the non-template databases."""
        with self.connect() as conn:
            rows = conn.execute("SELECT datname FROM pg_database WHERE NOT datistemplate")
            return sorted(row[0] for row in rows)

    def is_running(self) -> bool:
        """True while the postmaster runs (and ``stop()`` was not called)."""
        return not self._stopped and pid_alive(self.pid)

    def restart(self, timeout: float = 60) -> float:
        """``pg_ctl restart -m fast``: open connections are cut; returns seconds until it accepts again."""
        started = time.monotonic()
        self.pid = self.cluster.restart(timeout)
        return time.monotonic() - started

    def stop(self, timeout: float = 15.0, *, remove: bool | None = None) -> None:
        """Stop the cluster; remove its directory when ``remove`` (default: ``remove_on_stop``).

        A cluster that is removed anyway stops in ``immediate`` mode (no checkpoint), one that is
        kept in ``fast`` mode.
        """
        remove = self.remove_on_stop if remove is None else remove
        if not self._stopped:
            self._stopped = True
            forget_at_exit(self)
            self.cluster.stop("immediate" if remove else "fast", timeout)
        if remove:
            self.cluster.remove()

    def __enter__(self) -> PostgresServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_postgres(
    *,
    user: str = "mlstack",
    password: str | None = None,
    port: int | None = None,
    base_dir: str | os.PathLike[str] | None = None,
    max_connections: int = 200,
    throwaway: bool = True,
    stop_at_exit: bool = True,
    timeout: float = 30.0,
) -> PostgresServer:
    """Start a PostgreSQL cluster on 127.0.0.1 and return it (URLs, ``create_database``, ``stop``).

    No ``base_dir``: a fresh cluster in /tmp/mlstack-pg-XXXX, deleted by ``stop()``. With
    ``base_dir``: initdb there on the first call (``password`` generated when None), reuse it on
    later calls (pass the same ``password``); the directory is kept by ``stop()``. ``port`` is
    tried first when free, else a free port is taken. ``stop_at_exit=False`` lets the cluster
    outlive this process (a ``services up`` command).
    """
    fresh = base_dir is None
    # /tmp, not pytest's tmp dirs: every parent of the data dir must be traversable by postgres.
    root = Path(tempfile.mkdtemp(prefix="mlstack-pg-", dir="/tmp")) if base_dir is None else Path(base_dir)
    cluster = PostgresCluster(root)
    try:
        if not cluster.initialized():
            password = password or secrets.token_urlsafe(16)
            cluster.init(user, password)
        elif password is None:
            raise ValueError(f"{cluster.base_dir} holds a cluster already: pass its password")
        pid = cluster.postmaster_pid()
        chosen = port or 0
        if pid is None:
            pid = _start_on_free_port(
                cluster, port, max_connections=max_connections, throwaway=throwaway, timeout=timeout
            )
            chosen = _listening_port(cluster)
        elif not chosen:
            chosen = _listening_port(cluster)
    except BaseException:
        if fresh:
            cluster.remove()
        raise
    server = PostgresServer(LOOPBACK, chosen, user, password, cluster, pid, remove_on_stop=fresh)
    if stop_at_exit:
        processes.stop_at_exit(server, server.stop)
    return server


def _start_on_free_port(
    cluster: PostgresCluster, port: int | None, *, max_connections: int, throwaway: bool, timeout: float
) -> int:
    """Start on ``port`` when it is free, else on a free one; retries a lost bind race twice."""
    last_error: ServerUnavailable | None = None
    for attempt in range(3):
        chosen = port if (port and attempt == 0 and not port_is_open(port)) else free_port()
        try:
            return cluster.start(
                chosen, max_connections=max_connections, throwaway=throwaway, timeout=timeout
            )
        except ServerUnavailable as exc:
            last_error = exc
            if "could not bind" not in str(exc) and "already in use" not in str(exc):
                break
    assert last_error is not None
    raise last_error


def _listening_port(cluster: PostgresCluster) -> int:
    """The port of the running cluster (line 4 of postmaster.pid)."""
    return int((cluster.data_dir / "postmaster.pid").read_text().splitlines()[3])


__all__ = ["PostgresCluster", "PostgresDatabase", "PostgresServer", "pg_bindir", "start_postgres"]
