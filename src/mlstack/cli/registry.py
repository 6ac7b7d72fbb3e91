"""Registry commands: list versions, roll the champion back."""

from __future__ import annotations

import getpass
import os
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mlstack.cli.common import DatasetOpt, JsonOpt, app, console, context, emit, err, guard
from mlstack.server_access import require_registry


def os_user() -> str:
    """Who runs this: the login name ($LOGNAME/$USER, else the password database), else the uid."""
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no such variable and no passwd entry (a bare container uid)
        return f"uid {os.getuid()}"


@app.command(rich_help_panel="Registry")
@guard
def rollback(
    to_version: Annotated[
        str | None, typer.Option("--to", help="Version (default: the previous champion)")
    ] = None,
    reason: Annotated[str, typer.Option(help="Why (recorded on the version)")] = "manual rollback",
    by: Annotated[str | None, typer.Option(help="Who (recorded) [default: the OS user]")] = None,
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Point @champion back to the previous (or a named) version; records who and why.

    Warns when the version the champion moves to was refused by the gate (or never judged)."""
    from mlstack.registry.aliases import rollback as run

    ctx = context(dataset)
    require_registry(ctx.settings)
    result: dict[str, Any] = run(
        ctx.settings, ctx.spec, to_version=to_version, reason=reason, actor=by or os_user()
    )
    warning = _gate_warning(ctx.settings, result["name"], result["champion"])
    if warning:
        result["warning"] = warning
        err.print(f"[yellow]warning:[/yellow] {escape(warning)}", highlight=False)
    emit(result, as_json, "rolled back")


def _gate_warning(settings: Any, name: str, version: str) -> str | None:
    """Why the new champion deserves a second look: the gate refused it, or never judged it."""
    from mlstack import tracking
    from mlstack.lineage import TAG_PREFIX

    tags = tracking.configure(settings).get_model_version(name, version).tags
    verdict = tags.get(TAG_PREFIX + "gate.verdict")
    if verdict == "promoted":
        return None
    if verdict is None:
        return f"version {version} was never judged by the gate (no gate verdict recorded)"
    reason = tags.get(TAG_PREFIX + "gate.reason")
    return f"version {version} was {verdict} by the gate" + (f": {reason}" if reason else "")


@app.command(rich_help_panel="Registry")
@guard
def models(
    dataset: DatasetOpt = None,
    as_json: JsonOpt = False,
    wide: Annotated[
        bool, typer.Option("--wide", help="One line per version, whatever the terminal's width")
    ] = False,
) -> None:
    """Registered versions: aliases, metrics, lineage and gate decisions.

    Fits the terminal: a long value is folded onto more lines, never cut. `--wide` keeps each
    version on one line (for a pager or a file); `--json` gives every field."""
    from mlstack.registry.versions import list_versions

    ctx = context(dataset)
    require_registry(ctx.settings)  # a refused login must not read as an empty registry
    versions = list_versions(ctx.settings, ctx.spec)
    if as_json:
        emit(versions, True)
        return
    if not versions:
        console.print("no registered versions yet: run `mlstack run`")
        return
    table = Table(title=f"{versions[0]['name']}")
    for col in ("version", "aliases", "metrics", "dataset", "orchestrator run", "gate"):
        table.add_column(col, overflow="fold", no_wrap=wide)
    for v in versions:
        tags = v["tags"]
        table.add_row(
            v["version"],
            ",".join(v["aliases"]),
            # overall metrics only: per part and per slice (`part.new.f1_macro`) are on the card
            ", ".join(f"{k}={val:.3f}" for k, val in sorted(v["metrics"].items()) if "." not in k),
            tags.get("dataset_id", ""),
            tags.get("orchestrator_run_id", ""),
            tags.get("gate.verdict", ""),
        )
    if wide:  # as wide as the rows need: a terminal narrower than that wraps the lines itself
        Console(width=100_000, highlight=False).print(table, crop=False)
        return
    console.print(table)
