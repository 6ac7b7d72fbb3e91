"""The application factory: `mlstack serve` runs `create_app` under uvicorn."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import AsyncIterator, Mapping

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from mlstack import __version__
from mlstack.api.auth import BearerToken, check_can_start
from mlstack.api.metrics import MetricsMiddleware
from mlstack.api.routes import add_schemas, router
from mlstack.api.state import ApiState
from mlstack.config import Settings, get_settings
from mlstack.data.spec import DatasetSpec, load_spec
from mlstack.serving.loader import Loader


def _warm_up(state: ApiState) -> None:
    # Load the champion in the background at start-up: /health answers at once, /ready turns 200
    # as soon as the model is in memory, and the first prediction does not pay the load.
    with contextlib.suppress(Exception):
        state.current()


def create_app(
    settings: Settings | None = None,
    spec: DatasetSpec | None = None,
    *,
    env: Mapping[str, str] | None = None,
    loader: Loader | None = None,
) -> FastAPI:
    """The API serving `models:/<name>@champion` of `spec` (defaults: process settings and their
    dataset). ConfigError in production mode without a proper `MLSTACK_API_TOKEN`."""
    settings = settings or get_settings()
    spec = spec or load_spec(settings.dataset)
    check_can_start(settings, env)
    state = ApiState.build(settings, spec, loader)

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        threading.Thread(target=_warm_up, args=(state,), name="mlstack-api-warm-up", daemon=True).start()
        yield

    # /docs and /redoc from packaged assets: the stack and its users may have no CDN.
    app = FastAPIOffline(
        title=f"mlstack prediction API: {spec.name}",
        version=__version__,
        description=(
            f"Predictions of `{spec.target}` from `models:/{state.server.name}@{state.server.alias}`. "
            "Rows are checked against the dataset spec; every prediction is logged with its "
            "`prediction_id`. Send `Authorization: Bearer <MLSTACK_API_TOKEN>` when the server has a token."
        ),
        lifespan=lifespan,
    )
    app.state.api = state
    app.include_router(router(state, BearerToken(settings)))
    add_schemas(app, state)
    app.add_middleware(MetricsMiddleware, metrics=state.metrics)
    return app
