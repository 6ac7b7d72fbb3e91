"""`mlstack ...`: every lifecycle step runnable by hand. Thin: each command calls mlstack.pipeline."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlstack.errors import MlstackError

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


def _ctx(dataset: str | None):
    from mlstack import pipeline

    return pipeline.context(dataset=dataset)


def _emit(data: Any, as_json: bool, title: str | None = None) -> None:
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


def _guard(fn):
    """Turn user-facing errors into a clear message and exit code, never a traceback."""
    import functools

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except MlstackError as exc:
            err.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_ERROR) from None

    return wrapper


def _step(label: str):
    return console.status(f"{label}...", spinner="dots")


@app.command()
@_guard
def ingest(
    source: Annotated[
        str | None, typer.Argument(help="path, s3://, http(s)://, postgresql://...?table=")
    ] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Read a batch, keep it raw, snapshot it as Parquet; prints the dataset id."""
    from mlstack import pipeline

    with _step("ingesting"):
        result = pipeline.ingest(_ctx(dataset), source)
    _emit(result, as_json, "ingested" if result["created"] else "already ingested (no-op)")


@app.command()
@_guard
def validate(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id from `mlstack ingest`")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Check a snapshot against the dataset spec; exit 2 listing every failing check."""
    from mlstack import pipeline

    with _step("validating"):
        result = pipeline.validate(_ctx(dataset), dataset_id)
    _emit(result, as_json, "validation passed")


@app.command()
@_guard
def train(
    dataset_id: Annotated[str, typer.Argument(help="Dataset id")],
    snapshot_uri: Annotated[str | None, typer.Option(help="Snapshot URI (default: from the id)")] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Fit the spec's Pipeline and log an MLflow run with the model."""
    from mlstack import pipeline
    from mlstack.data.ingest import snapshot_key
    from mlstack.data.store import ArtifactStore

    ctx = _ctx(dataset)
    uri = snapshot_uri or ArtifactStore.from_settings(ctx.settings).uri(snapshot_key(dataset_id))
    with _step("training"):
        result = pipeline.train(ctx, dataset_id, uri)
    _emit(result, as_json, "trained")


@app.command()
@_guard
def evaluate(
    run_id: Annotated[str, typer.Argument(help="MLflow run id from `mlstack train`")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Score the run's model on its holdout; log metrics and plots to the run."""
    from mlstack import pipeline

    with _step("evaluating"):
        result = pipeline.evaluate(_ctx(dataset), run_id)
    _emit(result, as_json, "evaluated")


@app.command()
@_guard
def register(
    run_id: Annotated[str, typer.Argument(help="MLflow run id")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Register the run's model (alias challenger) with lineage tags; idempotent."""
    from mlstack import pipeline

    with _step("registering"):
        result = pipeline.register(_ctx(dataset), run_id)
    _emit(result, as_json, "registered" if result["created"] else "already registered")


@app.command()
@_guard
def promote(
    version: Annotated[str, typer.Argument(help="Model version to consider for @champion")],
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Run the gate: challenger vs @champion on the same holdout; move the alias or refuse."""
    from mlstack import pipeline

    with _step("gating"):
        result = pipeline.promote(_ctx(dataset), version)
    _emit(result, as_json, f"gate: {result['verdict']}")


@app.command()
@_guard
def rollback(
    to_version: Annotated[
        str | None, typer.Option("--to", help="Version (default: the previous champion)")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded on the version)")] = "manual rollback",
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point @champion back to the previous (or a named) version; records who and why."""
    from mlstack.registry import rollback as run

    ctx = _ctx(dataset)
    result = run(ctx.settings, ctx.spec, to_version=to_version, reason=reason)
    _emit(result, as_json, "rolled back")


@app.command()
@_guard
def run(
    source: Annotated[str | None, typer.Argument(help="Source URI (default: configured source)")] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """All steps in-process: ingest -> validate -> train -> evaluate -> register -> promote."""
    from mlstack import pipeline

    ctx = _ctx(dataset)
    with console.status("starting", spinner="dots") as status:
        summary = pipeline.run_all(ctx, source, on_step=lambda s: status.update(f"{s}..."))
    if as_json:
        _emit(summary, True)
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


def _parse_rows(json_text: str | None, file: Path | None, fields: list[str]) -> Any:
    import pandas as pd

    from mlstack.errors import InputError

    given = [x for x in (json_text, file, fields or None) if x]
    if len(given) != 1:
        raise InputError("give exactly one of --json-row, --file or --field name=value")
    if json_text:
        try:
            return json.loads(json_text)
        except json.JSONDecodeError as exc:
            raise InputError(f"--json-row: not valid JSON ({exc.msg} at char {exc.pos})") from None
    if file:
        from mlstack.data import sources

        return sources.parse(sources.fetch(str(file)))
    row = {}
    for item in fields:
        if "=" not in item:
            raise InputError(f"--field {item!r}: expected name=value")
        key, value = item.split("=", 1)
        row[key.strip()] = value
    return pd.DataFrame([row])


@app.command()
@_guard
def predict(
    json_row: Annotated[
        str | None, typer.Option("--json-row", help="One row (object) or rows (list) as JSON")
    ] = None,
    file: Annotated[Path | None, typer.Option("--file", help="CSV or Parquet file of rows")] = None,
    field: Annotated[list[str] | None, typer.Option("--field", "-f", help="name=value, repeatable")] = None,
    example: Annotated[bool, typer.Option("--example", help="Predict one row of the spec's data")] = False,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Predict with models:/<name>@champion (one row from flags/JSON, or a file)."""
    from mlstack.monitor.prediction_log import log_predictions
    from mlstack.serving import ModelServer, prepare_inputs

    ctx = _ctx(dataset)
    if example:
        from mlstack.data.synthetic import reference_frame

        rows: Any = reference_frame(ctx.spec)[ctx.spec.feature_names].dropna().head(1)
    else:
        rows = _parse_rows(json_row, file, field or [])
    server = ModelServer(ctx.settings, ctx.spec)
    features = prepare_inputs(rows, ctx.spec)
    result = server.predict(features)
    log_predictions(ctx.settings, features, result, source="cli")
    out = {
        "model": f"models:/{result.name}@{result.alias}",
        "version": result.version,
        "predictions": result.predictions,
    }
    if result.probabilities is not None:
        out["probabilities"] = result.probabilities
    if as_json:
        _emit(out, True)
        return
    console.print(f"[bold]{out['model']}[/bold] (version {result.version})")
    for i, value in enumerate(result.predictions[:20]):
        extra = ""
        if result.probabilities:
            extra = "  " + ", ".join(f"{k}={v:.2f}" for k, v in result.probabilities[i].items())
        console.print(f"  row {i}: {value}{extra}")


@app.command()
@_guard
def models(dataset: DatasetOpt = None, as_json: JsonOpt = False) -> None:
    """Registered versions: aliases, metrics, lineage and gate decisions."""
    from mlstack.registry import list_versions

    ctx = _ctx(dataset)
    versions = list_versions(ctx.settings, ctx.spec)
    if as_json:
        _emit(versions, True)
        return
    if not versions:
        console.print("no registered versions yet: run `mlstack run`")
        return
    table = Table(title=f"{versions[0]['name']}")
    for col in ("version", "aliases", "metrics", "dataset", "orchestrator run", "gate"):
        table.add_column(col)
    for v in versions:
        tags = v["tags"]
        table.add_row(
            v["version"],
            ",".join(v["aliases"]),
            ", ".join(f"{k}={val:.3f}" for k, val in sorted(v["metrics"].items())),
            tags.get("dataset_id", ""),
            tags.get("orchestrator_run_id", ""),
            tags.get("gate.verdict", ""),
        )
    console.print(table)


@app.command()
@_guard
def config(as_json: JsonOpt = False) -> None:
    """Resolved settings, secrets masked."""
    from mlstack.config import load_settings

    _emit(load_settings().masked(), as_json, "settings")


@app.command("check-secrets")
@_guard
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


@app.command()
@_guard
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

    frame = gen(rows, seed=seed, spec=_ctx(dataset).spec, drift=parse_drift(drift))
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".parquet":
        frame.to_parquet(out, index=False)
    else:
        frame.to_csv(out, index=False)
    console.print(f"wrote {len(frame)} rows to {out}")


@app.command()
@_guard
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

    ctx = _ctx(dataset)
    try:
        with _step("checking drift"):
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
        _emit(result.to_dict(), True)
    else:
        style = "red" if result.drift_detected else "green"
        lines = format_summary(result).splitlines()
        console.print(f"[bold {style}]{escape(lines[0])}[/bold {style}]")
        for line in lines[1:]:
            console.print(escape(line), highlight=False)
    if fail_on_drift and result.drift_detected:
        raise typer.Exit(EXIT_DRIFT)


def main() -> None:  # pragma: no cover - console entry point
    app()


if __name__ == "__main__":  # pragma: no cover
    sys.exit(app())
