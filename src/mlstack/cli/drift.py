"""`mlstack drift`: the Evidently drift check from the command line."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.markup import escape

from mlstack.cli.common import (
    EXIT_ERROR,
    DatasetOpt,
    JsonOpt,
    app,
    console,
    context,
    emit,
    err,
    guard,
    spinner,
)
from mlstack.errors import MlstackError


@app.command(rich_help_panel="Monitoring")
@guard
def drift(
    current: Annotated[
        str | None,
        typer.Option(help="Batch URI, or predictions:<window> (e.g. predictions:24h); MLSTACK_DRIFT_CURRENT"),
    ] = None,
    fail_on_drift: Annotated[
        bool, typer.Option("--fail-on-drift", help="Exit 3 when drift is found")
    ] = False,
    report_dir: Annotated[
        Path | None, typer.Option(help="Also write latest.html/latest.json (and a dated copy) here")
    ] = None,
    drift_share: Annotated[
        float | None,
        typer.Option(help="Dataset drift at this share of drifted features (MLSTACK_DRIFT_SHARE)"),
    ] = None,
    sample_size: Annotated[
        int | None, typer.Option(help="Seeded rows per side when larger; 0 = all (MLSTACK_DRIFT_SAMPLE_SIZE)")
    ] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Drift of a batch or the prediction log vs the champion's training data (Evidently).

    Exit 0: no drift (or drift without --fail-on-drift); 3: drift with --fail-on-drift; 2: the check failed.
    """
    from mlstack.monitor.drift import EXIT_DRIFT, check_drift, format_summary

    ctx = context(dataset)
    try:
        with spinner("checking drift"):
            result = check_drift(
                ctx,
                current or ctx.settings.drift_current,
                drift_share=drift_share,
                sample_size=sample_size,
                report_dir=report_dir,
            )
    except MlstackError:
        raise
    except Exception:  # anything unexpected is still "the check failed" (2), never "drift" (3)
        err.print_exception(max_frames=5)
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        emit(result.to_dict(), True)
    else:
        style = "red" if result.drift_detected else "green"
        lines = format_summary(result).splitlines()
        console.print(f"[bold {style}]{escape(lines[0])}[/bold {style}]")
        for line in lines[1:]:
            console.print(escape(line), highlight=False)
    if fail_on_drift and result.drift_detected:
        raise typer.Exit(EXIT_DRIFT)
