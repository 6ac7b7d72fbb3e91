"""What every `mlstack` command shares: the root app, consoles, common options, error handling."""

from __future__ import annotations

import functools
import json
import os
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.markup import escape

from mlstack.errors import MlstackError
from mlstack.server_access import auth_failure

app = typer.Typer(
    help="mlstack: ingest, validate, train, evaluate, register, promote and serve models.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
)
console = Console()
err = Console(stderr=True)

EXIT_ERROR = 2  # a user-facing problem (bad data, bad setting, registry refused)

DatasetOpt = Annotated[
    str | None,
    typer.Option("--dataset", "-d", help="Dataset spec name or YAML path (MLSTACK_DATASET)"),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print machine-readable JSON")]
TuningOpt = Annotated[
    int | None,
    typer.Option(
        "--tuning-trials",
        min=0,
        help="Hyperparameter search trials over the spec's search_space (MLSTACK_TUNING_TRIALS; 0 = none)",
    ),
]

F = TypeVar("F", bound=Callable[..., Any])


def context(dataset: str | None, tuning_trials: int | None = None):
    """The lifecycle context (settings + dataset spec) for one command; `tuning_trials`
    overrides MLSTACK_TUNING_TRIALS for it."""
    from mlstack import lifecycle
    from mlstack.config import load_settings

    settings = load_settings() if tuning_trials is None else load_settings(tuning_trials=tuning_trials)
    # The user at their own shell may read their own files; DAG runs and remote triggers may not.
    return lifecycle.context(settings, dataset=dataset, trusted_caller=True)


def emit(data: Any, as_json: bool, title: str | None = None) -> None:
    """Print a result as JSON (``--json``) or as a short titled listing."""
    if as_json:
        typer.echo(json.dumps(data, indent=2, default=str))
        return
    if title:
        console.print(f"[bold]{title}[/bold]")
    if isinstance(data, dict):
        for key, value in data.items():
            console.print(f"  {key}: {value}")
    else:
        console.print(data)


def guard(fn: F) -> F:
    """Turn user-facing errors into a clear message and exit code, never a traceback."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except MlstackError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_ERROR) from None
        except Exception as exc:
            # MLflow's own 401/403 (from any registry call): a refused login, said as such.
            refused = auth_failure(str(exc), _registry_uri())
            if refused is None:
                raise
            err.print(f"[red]error:[/red] {escape(refused)}", highlight=False)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper  # type: ignore[return-value]


def _registry_uri() -> str:
    """The registry named in a message; the environment's when settings cannot be read."""
    try:
        from mlstack.config import load_settings

        settings = load_settings()
        return settings.registry_uri or settings.resolved_tracking_uri
    except Exception:  # the message must come out even with broken settings
        return os.environ.get("MLFLOW_TRACKING_URI", "server")


def spinner(label: str):
    """A status spinner while a step runs."""
    return console.status(f"{label}...", spinner="dots")


def _version(value: bool) -> None:
    if value:
        from mlstack import __version__

        typer.echo(f"mlstack {__version__}")
        raise typer.Exit()


@app.callback()
def main_options(
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version and exit"),
    ] = False,
) -> None:
    """mlstack: ingest, validate, train, evaluate, register, promote and serve models."""
