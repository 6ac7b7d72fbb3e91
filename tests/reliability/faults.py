"""Fault injection helpers: a TCP proxy that can cut a server off, task retries (PostgreSQL restarts:
``devstack.postgres.PostgresServer.restart``).

Everything here runs on 127.0.0.1 only, with bounded waits.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

from devstack.ports import LOOPBACK, free_port


class TcpProxy:
    """Forwards 127.0.0.1:<port> to a target; ``down()`` refuses new connections and cuts open ones.

    Stands between a client and a server whose state must survive the outage: cutting the proxy
    is an outage of the network path alone, with no restart of the server behind it.
    """

    def __init__(self, target_port: int, port: int | None = None) -> None:
        self.target_port = target_port
        self.port = port or free_port()
        self._listener: socket.socket | None = None
        self._conns: set[socket.socket] = set()
        self._lock = threading.Lock()
        self.connections = 0

    @property
    def url(self) -> str:
        return f"http://{LOOPBACK}:{self.port}"

    def up(self) -> TcpProxy:
        if self._listener is not None:
            return self
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind((LOOPBACK, self.port))
        listener.listen(64)
        self._listener = listener
        threading.Thread(target=self._accept, args=(listener,), daemon=True).start()
        return self

    def down(self) -> None:
        listener, self._listener = self._listener, None
        if listener is not None:
            with contextlib.suppress(OSError):
                listener.shutdown(socket.SHUT_RDWR)
            listener.close()
        with self._lock:
            conns, self._conns = list(self._conns), set()
        for conn in conns:
            with contextlib.suppress(OSError):
                conn.shutdown(socket.SHUT_RDWR)
            conn.close()

    def _accept(self, listener: socket.socket) -> None:
        while True:
            try:
                client, _ = listener.accept()
            except OSError:
                return
            try:
                upstream = socket.create_connection((LOOPBACK, self.target_port), timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            with self._lock:
                self._conns.update((client, upstream))
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (src, dst):
                with contextlib.suppress(OSError):
                    sock.shutdown(socket.SHUT_RDWR)


@dataclass
class TaskRun:
    """What one emulated Airflow task did: tries, errors, seconds."""

    task_id: str
    tries: int = 0
    errors: list[str] = field(default_factory=list)
    state: str = "none"
    result: Any = None


def run_task(
    task_id: str,
    fn: Callable[[], Any],
    *,
    retries: int = 2,
    retry_delay: float = 2.0,
    backoff: float = 2.0,
    on_failure: Callable[[TaskRun, BaseException], None] | None = None,
) -> TaskRun:
    """Run ``fn`` the way the training DAG's default_args run a task: retries with exponential backoff,
    then ``on_failure`` once after the last try (the failure mail). Bad data/config is not retried."""
    from mlstack.errors import ConfigError, DataValidationError

    run = TaskRun(task_id)
    delay = retry_delay
    while True:
        run.tries += 1
        try:
            run.result = fn()
            run.state = "success"
            return run
        except (DataValidationError, ConfigError) as exc:
            last: BaseException = exc
            run.errors.append(f"{type(exc).__name__}: {exc}")
            break
        except Exception as exc:
            last = exc
            run.errors.append(f"{type(exc).__name__}: {str(exc)[:300]}")
            if run.tries > retries:
                break
            time.sleep(delay)
            delay *= backoff
    run.state = "failed"
    if on_failure is not None:
        on_failure(run, last)
    return run


@contextlib.contextmanager
def airflow_task_env(dag_run_id: str, dag_id: str = "training_pipeline") -> Iterator[None]:
    """The AIRFLOW_CTX_* variables Airflow exports into a task (register is idempotent per run)."""
    saved = {k: os.environ.get(k) for k in ("AIRFLOW_CTX_DAG_ID", "AIRFLOW_CTX_DAG_RUN_ID")}
    os.environ["AIRFLOW_CTX_DAG_ID"] = dag_id
    os.environ["AIRFLOW_CTX_DAG_RUN_ID"] = dag_run_id
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.1) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return True
        except Exception:  # the thing polled may be down right now
            pass
        time.sleep(interval)
    return False
