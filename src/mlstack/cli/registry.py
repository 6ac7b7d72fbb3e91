"""Registry commands: list versions, roll the champion back."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.table import Table

from mlstack.cli.common import DatasetOpt, JsonOpt, app, console, context, emit, guard


@app.command(rich_help_panel="Registry")
@guard
def rollback(
    to_version: Annotated[
        str | None, typer.Option("--to", help="Version (default: the previous champion)")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded on the version)")] = "manual rollback",
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point @champion back to the previous (or a named) version; records who and why."""
    from mlstack.registry.aliases import rollback as run

    ctx = context(dataset)
    result = run(ctx.settings, ctx.spec, to_version=to_version, reason=reason)
    emit(result, as_json, "rolled back")


@app.command(rich_help_panel="Registry")
@guard
def models(dataset: DatasetOpt = None, as_json: JsonOpt = False) -> None:
    """Registered versions: aliases, metrics, lineage and gate decisions."""
    from mlstack.registry.versions import list_versions

    ctx = context(dataset)
    versions = list_versions(ctx.settings, ctx.spec)
    if as_json:
        emit(versions, True)
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
