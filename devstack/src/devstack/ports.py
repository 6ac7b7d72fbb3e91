"""TCP ports on the loopback address: one free-port rule for tests, benchmarks and scripts."""

from __future__ import annotations

import socket
import threading

from devstack import ServerUnavailable

LOOPBACK = "127.0.0.1"

_handed_out: set[int] = set()
_lock = threading.Lock()


def free_port(host: str = LOOPBACK) -> int:
    """A TCP port that is free on ``host`` now and was not handed out before by this process.

    Remembering what was handed out keeps two servers started in a row from getting the same
    port before the first one binds it.
    """
    with _lock:
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((host, 0))
                port = int(sock.getsockname()[1])
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
