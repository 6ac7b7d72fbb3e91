"""`mlstack predict`: predictions from models:/<name>@champion."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from mlstack.cli.common import DatasetOpt, JsonOpt, app, console, context, emit, err, guard


def _parse_rows(json_text: str | None, file: Path | None, fields: list[str]) -> Any:
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

        return sources.parse(sources.fetch(str(file)), only_empty_is_missing=True)
    row = {}
    for item in fields:
        if "=" not in item:
            raise InputError(f"--field {item!r}: expected name=value")
        key, value = item.split("=", 1)
        row[key.strip()] = value
    return row  # one object, as --json-row gives: a field not given is absent, `name=` is empty


@app.command(rich_help_panel="Serving")
@guard
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
    from mlstack.serving import service
    from mlstack.serving.loader import ModelServer

    ctx = context(dataset)
    if example:
        from mlstack.data.synthetic import reference_frame

        rows: Any = reference_frame(ctx.spec)[ctx.spec.feature_names].dropna().head(1)
    else:
        rows = _parse_rows(json_row, file, field or [])
    served = service.predict(ModelServer(ctx.settings, ctx.spec), rows, source="cli")
    result = served.prediction
    out: dict[str, Any] = {
        "model": f"models:/{result.name}@{result.alias}",
        "version": result.version,
        "predictions": result.predictions,
    }
    if result.probabilities is not None:
        out["probabilities"] = list(result.probabilities)
    if not served.log.ok:  # the prediction still goes out, with the reason it was not logged
        out["prediction_log_error"] = served.log.error
        err.print(f"[yellow]warning:[/yellow] {escape(str(served.log.error))}", highlight=False)
    if as_json:
        emit(out, True)
        return
    console.print(f"[bold]{out['model']}[/bold] (version {result.version})")
    for i, value in enumerate(result.predictions[:20]):
        extra = ""
        if result.probabilities:
            extra = "  " + ", ".join(f"{k}={v:.2f}" for k, v in result.probabilities[i].items())
        console.print(f"  row {i}: {value}{extra}")
