"""Long-running commands that are stopped for sure: :class:`ManagedProcess` and /proc helpers.

Starting, signalling the process group and the timed SIGTERM -> SIGKILL escalation are
mirakuru's (:class:`mirakuru.SimpleExecutor`): it starts each command in a session of its own,
marks it and its children with an environment variable, and kills what carries its mark when the
interpreter exits. What stays ours, because the tests need it and mirakuru does not promise it:

- ``stop()`` checks that no process of the group is left and raises if one survives SIGKILL
  (a test run must leave nothing behind);
- ``kill()`` crashes the whole group at once and ``start()`` runs the same command again
  (fault tests kill and restart servers);
- ``wait_http()`` polls a URL without blocking ``start()`` (several servers boot in parallel),
  and every error carries the tail of the command's log file.
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from mirakuru import SimpleExecutor
from mirakuru.base import ENV_UUID
from mirakuru.exceptions import ProcessFinishedWithError

from devstack import ServerUnavailable
from devstack.ports import LOOPBACK, port_is_open

# The interpreter running us lives in the project's .venv: its console scripts sit next to it.
VENV_BIN = Path(sys.executable).parent


def venv_tool(name: str) -> str:
    """Path of a console script of the project's venv (falls back to PATH)."""
    candidate = VENV_BIN / name
    if candidate.exists():
        return str(candidate)
    found = shutil.which(name)
    if found:
        return found
    raise ServerUnavailable(f"{name!r} is not installed (not in {VENV_BIN} nor on PATH)")


def _proc_fields(pid: int | str) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name, None when the process is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError, PermissionError):
        return None
    # "pid (comm) S ppid pgrp ..." — comm may hold spaces and parentheses.
    return stat.rsplit(")", 1)[1].split()


def pid_alive(pid: int) -> bool:
    """True while the process exists and is not a zombie (PID 1 here does not reap orphans)."""
    fields = _proc_fields(pid)
    return fields is not None and fields[0] not in {"Z", "X"}


def group_members(pgid: int) -> list[int]:
    """Live (non-zombie) processes whose process group is ``pgid``."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_fields(entry.name)
        if fields is not None and int(fields[2]) == pgid and fields[0] not in {"Z", "X"}:
            members.append(int(entry.name))
    return members


def live_descendants(pid: int) -> list[int]:
    """Live (non-zombie) processes descending from ``pid`` (children, grandchildren, ...)."""
    parents: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        fields = _proc_fields(entry.name)
        if fields is not None and fields[0] not in {"Z", "X"}:
            parents.setdefault(int(fields[1]), []).append(int(entry.name))
    found: list[int] = []
    todo = [pid]
    while todo:
        for child in parents.get(todo.pop(), []):
            found.append(child)
            todo.append(child)
    return found


def http_status(url: str, timeout: float = 2.0, headers: Mapping[str, str] | None = None) -> int:
    """The HTTP status ``url`` answers with (errors included); raises OSError when nothing answers."""
    request = urllib.request.Request(url, headers=dict(headers or {}))
    # No proxy for loopback whatever the environment says.
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    try:
        with opener.open(request, timeout=timeout) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


# Servers that are not a ManagedProcess (PostgreSQL under pg_ctl, SMTP in a thread) register
# their stop here: everything still running at interpreter exit is stopped (Ctrl-C, a script
# that forgets).
_live_stoppers: dict[int, Callable[[], Any]] = {}


def stop_at_exit(obj: object, stop: Callable[[], Any]) -> None:
    """Call ``stop()`` at interpreter exit unless :func:`forget_at_exit` is called for ``obj``."""
    _live_stoppers[id(obj)] = stop


def forget_at_exit(obj: object) -> None:
    """``obj`` was stopped: nothing to do for it at exit."""
    _live_stoppers.pop(id(obj), None)


@atexit.register
def _stop_leftovers() -> None:
    for stop in list(_live_stoppers.values())[::-1]:
        with contextlib.suppress(Exception):
            stop()


class _Executor(SimpleExecutor):
    """mirakuru's executor with our environment rules and the exit code kept after a stop."""

    def __init__(self, cmd: Sequence[str], env: dict[str, str], **kwargs: Any) -> None:
        super().__init__(list(cmd), **kwargs)
        self._full_env = env
        self.exit_code: int | None = None

    @property
    def envvars(self) -> dict[str, str]:
        # mirakuru starts from os.environ; ours may drop it or unset keys, and keeps the mark.
        return {**self._full_env, ENV_UUID: self._uuid}

    def _clear_process(self) -> None:
        if self.process is not None:
            self.exit_code = self.process.poll()
        super()._clear_process()

    def marked(self) -> set[int]:
        """Live processes that carry this executor's mark (children that left the group too)."""
        from mirakuru.base_env import processes_with_env

        return {pid for pid in processes_with_env(ENV_UUID, self._uuid) if pid_alive(pid)}

    def stop_within(self, timeout: float) -> None:
        """SIGTERM the group, SIGKILL it after ``timeout`` seconds; the exit code is not judged."""
        self._timeout = timeout
        with contextlib.suppress(ProcessFinishedWithError):
            self.stop()


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
        self._executor: _Executor | None = None
        self._pid: int | None = None

    def __repr__(self) -> str:
        return f"ManagedProcess({self.name!r}, pid={self.pid}, running={self.is_running()})"

    def full_env(self) -> dict[str, str]:
        """The environment the command gets: ours (or nothing), less ``unset_env``, plus ``env``."""
        base = dict(os.environ) if self.inherit_env else {}
        for key in self.unset_env:
            base.pop(key, None)
        base.update(self.env)
        return base

    def start(self) -> ManagedProcess:
        """Start the command (again); raises :class:`ServerUnavailable` when it cannot be run."""
        if self.is_running():
            raise RuntimeError(f"{self.name} is already running (pid {self.pid})")
        self.starts += 1
        self.returncode = None
        with open(self.log_path, "ab") as log:
            log.write(f"\n=== start #{self.starts}: {' '.join(self.cmd)}\n".encode())
            log.flush()
            executor = _Executor(
                self.cmd,
                self.full_env(),
                cwd=self.cwd,
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
            )
            try:
                executor.start()
            except OSError as exc:
                raise ServerUnavailable(f"cannot start {self.name}: {exc}") from exc
        assert executor.process is not None
        self._executor, self._pid = executor, executor.process.pid
        stop_at_exit(self, self.stop)
        return self

    @property
    def pid(self) -> int | None:
        """PID of the command's latest start (kept after it stopped)."""
        return self._pid

    def is_running(self) -> bool:
        """True while the command itself runs."""
        return self._executor is not None and self._executor.running()

    def group_members(self) -> list[int]:
        """Live processes of this command's process group (the command and its children)."""
        return group_members(self._pid) if self._pid is not None else []

    def _leftovers(self) -> list[int]:
        assert self._executor is not None and self._pid is not None
        return sorted(set(group_members(self._pid)) | self._executor.marked())

    def _sigkill(self, pids: list[int]) -> None:
        assert self._pid is not None
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self._pid, signal.SIGKILL)
        for pid in pids:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(pid, signal.SIGKILL)

    def stop(self, timeout: float = 15.0) -> int | None:
        """SIGTERM the group, SIGKILL after ``timeout``; raise if anything is left. Idempotent."""
        executor = self._executor
        if executor is None:
            return None
        deadline = time.monotonic() + timeout
        executor.stop_within(timeout)
        # Children that outlived the leader (or ignored SIGTERM) get the rest of the timeout.
        while self._leftovers() and time.monotonic() < deadline:
            time.sleep(0.05)
        if left := self._leftovers():
            self._sigkill(left)
            kill_deadline = time.monotonic() + 5
            while self._leftovers() and time.monotonic() < kill_deadline:
                time.sleep(0.05)
        left = self._leftovers()
        if executor.exit_code is not None:
            self.returncode = executor.exit_code
        forget_at_exit(self)
        if left:
            raise RuntimeError(f"{self.name}: processes {left} survived SIGKILL")
        return self.returncode

    def kill(self) -> int | None:
        """SIGKILL the whole group at once (a crash, for reliability tests)."""
        if self._executor is None:
            return None
        self._executor.kill()
        return self.stop(timeout=10)

    def restart(self, timeout: float = 15.0) -> ManagedProcess:
        """Stop (see :meth:`stop`), then start the same command again."""
        self.stop(timeout=timeout)
        return self.start()

    def _check_alive(self, waiting_for: str) -> None:
        if not self.is_running():
            assert self._executor is not None
            code = self._executor.process.poll() if self._executor.process else self._executor.exit_code
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
                status = http_status(url, headers=headers)
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
        """The last ``lines`` lines of the command's log file."""
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


__all__ = [
    "VENV_BIN",
    "ManagedProcess",
    "forget_at_exit",
    "group_members",
    "http_status",
    "live_descendants",
    "pid_alive",
    "stop_at_exit",
    "venv_tool",
]
