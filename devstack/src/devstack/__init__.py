"""mlstack's development tooling: real servers on 127.0.0.1 for tests, benchmarks and scripts.

Plain Python (no pytest import), installed by the root project's ``dev`` dependency group and
never into an image. One module per job:

- :mod:`devstack.ports`          free ports and open-port checks on the loopback address
- :mod:`devstack.processes`      :class:`~devstack.processes.ManagedProcess` (start, wait, stop,
                                 kill, restart a command and every child it spawned)
- :mod:`devstack.postgres`       a local PostgreSQL cluster (throwaway or kept), as root too
- :mod:`devstack.s3`             SeaweedFS's S3 server (verifies SigV4 signatures)
- :mod:`devstack.mlflow_server`  ``mlflow server`` on PostgreSQL with artifacts proxied to S3
- :mod:`devstack.smtp`           an aiosmtpd mailbox (plain, or STARTTLS with login)
- :mod:`devstack.compose`        the docker compose CLI against a private engine (stack boot)
- :mod:`devstack.requirements`   requirements*.txt of the images, generated from uv.lock
- :mod:`devstack.stack_secrets`  a ``.secrets`` file with random values for the compose stack

A server that cannot start on this machine raises :class:`ServerUnavailable`; the pytest glue in
``tests/support`` turns that into a skip (a failure under CI).
"""

from __future__ import annotations


class ServerUnavailable(RuntimeError):
    """A server cannot be started on this machine (missing binary, failed start, ...)."""


__all__ = ["ServerUnavailable"]
