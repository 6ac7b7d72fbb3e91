"""What a host-side client checks before talking to the stack's servers.

Two failures used to look like something else:

- an MLflow server with basic auth answers 401/403 to a client without a login; that is a
  refused login, not an unreachable registry, and the fix is ``MLFLOW_TRACKING_USERNAME`` /
  ``MLFLOW_TRACKING_PASSWORD``;
- the stack's ``.env`` names the S3 endpoint by its compose service name (``rustfs:9000``), which
  resolves only inside the compose network; a client on the host then retries artifact URLs
  for minutes. The name is resolved once, with a short timeout, and refused with the fix.
"""

from __future__ import annotations

import os
import socket
import threading
from urllib.parse import urlsplit

from mlstack.config import Settings
from mlstack.errors import ConfigError, RegistryAuthError, RegistryError

AUTH_HINT = (
    "set MLFLOW_TRACKING_USERNAME and MLFLOW_TRACKING_PASSWORD (in .env or .secrets) to an MLflow login"
)
S3_ENDPOINT_SETTINGS = ("MLSTACK_S3_ENDPOINT_URL", "MLFLOW_S3_ENDPOINT_URL")
RESOLVE_TIMEOUT_SECONDS = 2.0


def auth_failure(text: str, uri: str) -> str | None:
    """The message for an MLflow error text that is a refused login; None for any other error."""
    if not any(mark in text for mark in ("error code 401", "error code 403", "401 Client", "403 Client")):
        return None
    code = "403" if "403" in text else "401"
    given = "a login was given" if os.environ.get("MLFLOW_TRACKING_USERNAME") else "no login was given"
    return f"authentication failed at the registry {uri} (HTTP {code}, {given}): {AUTH_HINT}"


def registry_problem(settings: Settings, timeout: float = 2.0) -> str | None:
    """None when the registry server answers and accepts our login; else what is wrong, in one line.

    A 5xx from its API counts as down, even when `/health` answers (a sick backend store).

    Local stores (SQLite, files) have no server and no login: always None.
    """
    import requests

    uri = (settings.registry_uri or settings.resolved_tracking_uri).rstrip("/")
    if not uri.startswith(("http://", "https://")):
        return None
    try:
        requests.get(uri + "/health", timeout=timeout)
    except requests.RequestException:
        return f"the registry {uri} is unreachable"
    user = os.environ.get("MLFLOW_TRACKING_USERNAME")
    auth = (user, os.environ.get("MLFLOW_TRACKING_PASSWORD", "")) if user else None
    try:
        answer = requests.get(
            uri + "/api/2.0/mlflow/registered-models/search",
            params={"max_results": 1},
            auth=auth,
            timeout=timeout,
        )
    except requests.RequestException:
        return f"the registry {uri} is unreachable"
    if answer.status_code in (401, 403):
        return auth_failure(f"error code {answer.status_code}", uri)
    if answer.status_code >= 500:  # answers /health, fails the API: as good as down
        return f"the registry {uri} answers HTTP {answer.status_code} (a server error) to its API"
    return None


def _resolves(host: str, timeout: float) -> bool:
    """Whether `host` resolves within `timeout` (getaddrinfo has no timeout of its own)."""
    found: list[bool] = []

    def lookup() -> None:
        try:
            socket.getaddrinfo(host, None)
            found.append(True)
        except OSError:
            found.append(False)

    worker = threading.Thread(target=lookup, daemon=True)
    worker.start()
    worker.join(timeout)
    return bool(found and found[0])


_resolved: set[str] = set()


def check_s3_endpoint(settings: Settings, timeout: float = RESOLVE_TIMEOUT_SECONDS) -> None:
    """ConfigError at once when the S3 endpoint's host name does not resolve here.

    Checked before the first artifact access; a name that resolved once is not looked up again
    in this process, one that did not is looked up again next time (a DNS hiccup must not stick).
    """
    endpoint = settings.s3_endpoint_url or os.environ.get("MLFLOW_S3_ENDPOINT_URL") or ""
    if not endpoint or endpoint in _resolved:
        return
    bad_host = urlsplit(endpoint).hostname or ""
    if not bad_host or _resolves(bad_host, timeout):
        _resolved.add(endpoint)
        return
    port = urlsplit(endpoint).port or 9000
    raise ConfigError(
        f"MLSTACK_S3_ENDPOINT_URL / MLFLOW_S3_ENDPOINT_URL: {endpoint} names the host {bad_host!r}, "
        f"which does not resolve here (a compose service name resolves only inside the stack). "
        f"On the host use the published port: MLSTACK_S3_ENDPOINT_URL=http://127.0.0.1:{port} "
        f"and MLFLOW_S3_ENDPOINT_URL=http://127.0.0.1:{port}"
    )


def require_registry(settings: Settings) -> None:
    """RegistryAuthError on a refused login, RegistryError when the server does not answer.

    For commands that would otherwise read a refused listing as an empty registry.
    """
    problem = registry_problem(settings)
    if problem is None:
        return
    if "authentication failed" in problem:
        raise RegistryAuthError(problem)
    raise RegistryError(problem)
