"""`mlstack batch-score | feedback | quality | shadow-promote | staleness-study`: the model-quality loop."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.markup import escape

from mlstack.cli.common import DatasetOpt, JsonOpt, app, console, context, emit, guard


@app.command("batch-score", rich_help_panel="Serving")
@guard
def batch_score(
    source: Annotated[str, typer.Argument(help="Rows to score: path, s3://, http(s)://, postgresql://...")],
    output: Annotated[
        str | None,
        typer.Option("--output", "-o", help="Folder name under batch-predictions/ (default: a timestamp)"),
    ] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score a batch with @champion into Parquet (what the batch_inference DAG runs)."""
    from mlstack.serving.batch_inference import run_batch_inference

    ctx = context(dataset)
    result = run_batch_inference(ctx.settings, ctx.spec, source, output, trusted=True)
    emit(result.to_xcom(), as_json, title=f"batch scored with {result.model} v{result.version}")


@app.command(rich_help_panel="Monitoring")
@guard
def feedback(
    source: Annotated[
        str,
        typer.Argument(help="CSV/Parquet file, s3://... or postgresql://...?table= of prediction_id + label"),
    ],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Record ground truth: each row's prediction_id and its true label (or value)."""
    from mlstack.data import sources
    from mlstack.monitoring.feedback import record_feedback

    ctx = context(dataset)
    raw = sources.fetch(source, ctx.settings.s3_endpoint_url)
    frame = sources.parse(raw)
    result = record_feedback(
        ctx.settings, ctx.spec, frame, f"cli:{raw.source}", raw=raw.data, raw_format=raw.format
    )
    if as_json:
        emit(result.to_dict(), True)
        return
    console.print(
        f"[bold]feedback {result.batch_id}[/bold]: {result.accepted} of {result.rows} rows accepted"
    )
    console.print(f"  raw kept at {result.raw_uri}")
    for rejection in result.rejected[:50]:
        console.print(f"  row {rejection.row}: {escape(rejection.reason)}", highlight=False)
    if len(result.rejected) > 50:
        console.print(f"  ... {len(result.rejected) - 50} more refused rows (see --json)")


@app.command(rich_help_panel="Monitoring")
@guard
def quality(
    window: Annotated[
        str | None, typer.Option("--window", help="e.g. 24h, 7d (MLSTACK_QUALITY_WINDOW)")
    ] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Live quality of @champion on labelled predictions, beside its offline metric."""
    from mlstack.monitoring.live_quality import quality_verdict

    ctx = context(dataset)
    verdict = quality_verdict(ctx.settings, ctx.spec, window)
    if as_json:
        emit(verdict.to_dict(), True)
        return
    console.print(verdict.message(), highlight=False)


@app.command("shadow-promote", rich_help_panel="Registry")
@guard
def shadow_promote(
    min_rows: Annotated[
        int | None,
        typer.Option("--min-rows", min=1, help="Labelled live rows both need (MLSTACK_SHADOW_MIN_ROWS)"),
    ] = None,
    apply: Annotated[bool, typer.Option("--apply", help="Move @champion when the rule says so")] = False,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """The opt-in shadow rule: promote @challenger when it beats @champion on labelled live rows."""
    from mlstack.monitoring.shadow import apply_shadow_verdict, shadow_verdict

    ctx = context(dataset)
    verdict = shadow_verdict(ctx.settings, ctx.spec, min_rows)
    moved = apply_shadow_verdict(ctx.settings, verdict) if apply else False
    out = {**verdict.to_dict(), "applied": moved}
    if as_json:
        emit(out, True)
        return
    state = "PROMOTE" if verdict.promote else "keep the champion"
    console.print(f"[bold]{state}[/bold]: {escape(verdict.reason)}", highlight=False)
    if verdict.promote and not apply:
        console.print("  (dry run: add --apply to move @champion)")
    if moved:
        console.print(f"  @champion -> version {verdict.challenger}")


@app.command("staleness-study", rich_help_panel="Monitoring")
@guard
def staleness_study(
    source: Annotated[
        str | None, typer.Argument(help="Time-ordered rows (default: the spec's source, e.g. penguins)")
    ] = None,
    period: Annotated[str, typer.Option(help="Column that orders the rows in time")] = "year",
    output: Annotated[
        typer.FileTextWrite | None, typer.Option("--output", "-o", help="Also write the table here")
    ] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Quality against age: train through each period, score every later one (M4)."""
    from mlstack.data import sources
    from mlstack.model.staleness_study import study, to_markdown

    ctx = context(dataset)
    frame = sources.parse(sources.fetch(source or ctx.settings.source or ctx.spec.source))
    rows = study(frame, ctx.spec, ctx.settings.seed, period)
    table = to_markdown(rows, period)
    if output is not None:
        output.write(table)
    if as_json:
        emit([r.to_dict() for r in rows], True)
    else:
        console.print(table, markup=False, highlight=False)
