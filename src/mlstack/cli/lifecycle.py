"""Lifecycle steps by hand: ingest, validate, train, evaluate, register, promote, run."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from mlstack.cli.common import (
    DatasetOpt,
    JsonOpt,
    TuningOpt,
    app,
    console,
    context,
    emit,
    guard,
    spinner,
)


@app.command(rich_help_panel="Lifecycle")
@guard
def ingest(
    source: Annotated[
        str | None, typer.Argument(help="path, s3://, http(s)://, postgresql://...?table=")
    ] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a batch, keep it raw, snapshot it as Parquet; prints the dataset id."""
    from mlstack import lifecycle

    with spinner("ingesting"):
        result = lifecycle.ingest(context(dataset), source)
    emit(result, as_json, "ingested" if result["created"] else "already ingested (no-op)")


@app.command(rich_help_panel="Lifecycle")
@guard
def validate(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id from `mlstack ingest`")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a snapshot against the dataset spec; exit 2 listing every failing check."""
    from mlstack import lifecycle

    with spinner("validating"):
        result = lifecycle.validate(context(dataset), dataset_id)
    emit(result, as_json, "validation passed")


@app.command(rich_help_panel="Lifecycle")
@guard
def train(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id")],
    snapshot_uri: Annotated[str | None, typer.Option(help="Snapshot URI (default: from the id)")] = None,
    dataset: DatasetOpt = None,
    tuning_trials: TuningOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the spec's Pipeline (after a hyperparameter search if asked) and log an MLflow run."""
    from mlstack import lifecycle
    from mlstack.data.ingest import snapshot_key
    from mlstack.data.store import ArtifactStore

    ctx = context(dataset, tuning_trials)
    uri = snapshot_uri or ArtifactStore.from_settings(ctx.settings).uri(snapshot_key(dataset_id))
    with spinner("training"):
        result = lifecycle.train(ctx, dataset_id, uri)
    emit(result, as_json, "trained")


@app.command(rich_help_panel="Lifecycle")
@guard
def evaluate(
    run_id: Annotated[str, typer.Argument(help="MLflow run id from `mlstack train`")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score the run's model on its holdout; log metrics and plots to the run."""
    from mlstack import lifecycle

    with spinner("evaluating"):
        result = lifecycle.evaluate(context(dataset), run_id)
    emit(result, as_json, "evaluated")


@app.command(rich_help_panel="Lifecycle")
@guard
def register(
    run_id: Annotated[str, typer.Argument(help="MLflow run id")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register the run's model (alias challenger) with lineage tags; idempotent."""
    from mlstack import lifecycle

    with spinner("registering"):
        result = lifecycle.register(context(dataset), run_id)
    emit(result, as_json, "registered" if result["created"] else "already registered")


@app.command(rich_help_panel="Lifecycle")
@guard
def promote(
    version: Annotated[str, typer.Argument(help="Model version to consider for @champion")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the gate: challenger vs @champion on the same holdout; move the alias or refuse."""
    from mlstack import lifecycle

    with spinner("gating"):
        result = lifecycle.promote(context(dataset), version)
    emit(result, as_json, f"gate: {result['verdict']}")


@app.command(rich_help_panel="Lifecycle")
@guard
def run(
    source: Annotated[str | None, typer.Argument(help="Source URI (default: configured source)")] = None,
    dataset: DatasetOpt = None,
    tuning_trials: TuningOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """All steps in-process: ingest -> validate -> train -> evaluate -> register -> promote."""
    from mlstack import lifecycle

    ctx = context(dataset, tuning_trials)
    with console.status("starting", spinner="dots") as status:
        summary = lifecycle.run_all(ctx, source, on_step=lambda s: status.update(f"{s}..."))
    if as_json:
        emit(summary, True)
    else:
        print_summary(summary)


def print_summary(summary: dict) -> None:
    ing, gate = summary["ingest"], summary["gate"]
    table = Table(title="mlstack lifecycle", show_header=False)
    table.add_row("dataset id", f"{ing['dataset_id']} ({ing['rows']} rows)")
    table.add_row("validation", "passed" if summary["validate"]["passed"] else "FAILED")
    table.add_row("metrics", ", ".join(f"{k}={v:.4f}" for k, v in summary["metrics"].items()))
    table.add_row("run id", summary["train"]["run_id"])
    table.add_row("model version", f"{summary['register']['name']} v{summary['register']['version']}")
    table.add_row("gate", f"{gate['verdict']}: {gate['reason']}")
    table.add_row("@champion", f"v{summary['champion']}" if summary["champion"] else "none")
    console.print(table)


@app.command(rich_help_panel="Lifecycle")
@guard
def generate(
    rows: Annotated[int, typer.Option(help="Number of rows")] = 1000,
    seed: Annotated[int, typer.Option(help="Random seed")] = 0,
    drift: Annotated[
        list[str] | None,
        typer.Option(help="feature:shift=k | feature:scale=f | feature:mix=a:p,b:q"),
    ] = None,
    out: Annotated[Path, typer.Option(help="Output file (.csv or .parquet)")] = Path("batch.csv"),
    dataset: DatasetOpt = None,
) -> None:
    """Write a seeded synthetic batch in the dataset's schema, optionally drifted."""
    from mlstack.data.synthetic import generate as gen
    from mlstack.data.synthetic import parse_drift

    frame = gen(rows, seed=seed, spec=context(dataset).spec, drift=parse_drift(drift))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    console.print(f"wrote {len(frame)} rows to {out}")


@app.command(rich_help_panel="Lifecycle")
@guard
def config(as_json: JsonOpt = False) -> None:
    """Resolved settings, secrets masked."""
    from mlstack.config import load_settings

    emit(load_settings().masked(), as_json, "settings")
