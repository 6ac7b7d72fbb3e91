"""`mlstack secrets check`: refuse default or empty secrets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from mlstack.cli.common import app, console, guard

secrets_app = typer.Typer(
    help="Secrets: refuse empty, default or weak service secrets outside development mode.",
    no_args_is_help=True,
)
app.add_typer(secrets_app, name="secrets", rich_help_panel="Security")


@secrets_app.command("check")
@guard
def check(
    components: Annotated[
        list[str] | None,
        typer.Argument(
            help="airflow | airflow-viewer | mlflow | client | api | jenkins | s3 | ... | all "
            "(default: all = airflow, airflow-viewer, mlflow, client)"
        ),
    ] = None,
) -> None:
    """Refuse default/empty secrets (exit 2) unless MLSTACK_ENV=development; start-up scripts call this."""
    from mlstack.secrets_check import enforce

    report = enforce(components or ["all"])
    console.print(escape(report.to_text()), highlight=False)
