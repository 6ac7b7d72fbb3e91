"""Bearer-token auth of the API, and the refusal to start without a token in production mode.

`MLSTACK_API_TOKEN` set: every prediction and model route needs `Authorization: Bearer <token>`.
Unset: the API is open, which only development and `auto` mode allow (a laptop, a test run);
`MLSTACK_ENV=production` refuses to start (see `secrets_check`, components `api` and `client`:
the MLflow password it logs in with, when a username is set). /health,
/ready, /metrics and the docs stay open so probes and Prometheus need no secret.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping

from fastapi import HTTPException, Request

from mlstack.config import Settings
from mlstack.secrets_check import enforce, environment, mode_of


def check_can_start(settings: Settings, env: Mapping[str, str] | None = None) -> None:
    """ConfigError in production mode when the token, or the MLflow password the server logs in
    with, is missing, a default or too short (natively as in the container)."""
    env = environment() if env is None else env
    if mode_of(env) != "production":
        return
    token = settings.api_token.get_secret_value() if settings.api_token else ""
    enforce(["api", "client"], {**env, "MLSTACK_API_TOKEN": token})


class BearerToken:
    """A FastAPI dependency: 401 unless the request carries the configured token (when one is set)."""

    def __init__(self, settings: Settings) -> None:
        token = settings.api_token.get_secret_value() if settings.api_token else ""
        self._token = token.encode() if token else None

    @property
    def required(self) -> bool:
        """True when requests must carry the token."""
        return self._token is not None

    async def __call__(self, request: Request) -> None:
        # async although it awaits nothing: FastAPI runs a plain `def` dependency in its thread
        # pool, a thread hop per request that cost more than the whole check (B10).
        if self._token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, given = header.partition(" ")
        if scheme.lower() != "bearer" or not given:
            raise HTTPException(
                401,
                "missing bearer token: send `Authorization: Bearer <MLSTACK_API_TOKEN>`",
                headers={"WWW-Authenticate": "Bearer"},
            )
        if not secrets.compare_digest(given.strip().encode(), self._token):
            raise HTTPException(401, "invalid bearer token", headers={"WWW-Authenticate": "Bearer"})
