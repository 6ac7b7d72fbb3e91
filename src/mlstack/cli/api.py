"""`mlstack serve`: the prediction API (FastAPI on uvicorn) for models:/<name>@champion."""

from __future__ import annotations

import os
from typing import Annotated

import typer

from mlstack.cli.common import DatasetOpt, app, console, guard


@app.command(rich_help_panel="Serving")
@guard
def serve(
    host: Annotated[str, typer.Option("--host", help="Address to bind (0.0.0.0 only inside a container)")] = (
        "127.0.0.1"
    ),
    port: Annotated[int, typer.Option("--port", min=1, max=65535, help="Port to listen on")] = 8000,
    workers: Annotated[int, typer.Option("--workers", min=1, help="Worker processes")] = 1,
    dataset: DatasetOpt = None,
) -> None:
    """Serve the prediction API (/v1/predict, /invocations, /docs, /metrics) for @champion."""
    import uvicorn

    from mlstack.api.auth import check_can_start
    from mlstack.config import get_settings

    if dataset:  # workers build their app from the environment
        os.environ["MLSTACK_DATASET"] = dataset
        get_settings.cache_clear()
    settings = get_settings()
    check_can_start(settings)  # refuse here, before uvicorn, with a clear message
    auth = "bearer token required" if settings.api_token else "no token (open)"
    console.print(f"mlstack API on http://{host}:{port} ({auth}); docs at /docs", highlight=False)
    uvicorn.run(
        "mlstack.api.app:create_app",
        factory=True,
        host=host,
        port=port,
        workers=workers,
        log_level="info",
        access_log=False,  # /metrics counts every request; a line per prediction is noise
        # Longer than the idle timeout of common load balancers (60 s): a connection the server
        # closes while a client reuses it is a failed request on the client's side.
        timeout_keep_alive=75,
        proxy_headers=False,
    )
