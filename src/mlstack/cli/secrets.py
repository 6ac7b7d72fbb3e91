"""`mlstack check-secrets`: refuse default or empty secrets."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from mlstack.cli.common import app, console, guard


@app.command("check-secrets", rich_help_panel="Security")
@guard
def check_secrets(
    components: Annotated[
        list[str] | None,
        typer.Argument(
            help="airflow | mlflow | client | jenkins | all (default: all = airflow, mlflow, client)"
        ),
    ] = None,
) -> None:
    """Refuse default/empty secrets (exit 2) unless MLSTACK_ENV=development; start-up scripts call this."""
    from mlstack.security import enforce

    report = enforce(components or ["all"])
    console.print(escape(report.to_text()), highlight=False)
