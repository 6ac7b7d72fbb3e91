"""`mlstack spec ...`: dataset specs (a first draft from a CSV; the fields: docs/dataset-spec.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
import yaml

from mlstack.cli.common import app, console, guard

spec_app = typer.Typer(
    help="Dataset specs: what a dataset holds and how its model is judged.", no_args_is_help=True
)
app.add_typer(spec_app, name="spec", rich_help_panel="Lifecycle")


@spec_app.command("init")
@guard
def init(
    source: Annotated[str, typer.Argument(help="CSV or Parquet: a path, s3://, http(s)://, builtin:...")],
    target: Annotated[str | None, typer.Option(help="Column to predict [default: the last one]")] = None,
    name: Annotated[str | None, typer.Option(help="Spec name [default: from the file name]")] = None,
    out: Annotated[Path | None, typer.Option(help="Spec file to write [default: <name>.yaml]")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace an existing spec file")] = False,
) -> None:
    """Propose a dataset spec from a table, for you to review (every field: docs/dataset-spec.md).

    Use it with MLSTACK_DATASET=<file>.yaml; the data it was drawn from passes its validation.
    """
    from mlstack.config import load_settings
    from mlstack.data import sources
    from mlstack.data.spec_draft import default_name, draft_spec
    from mlstack.errors import InputError

    name = name or default_name(source)
    out = out or Path(f"{name}.yaml")
    if out.exists() and not force:
        raise InputError(f"{out} exists: kept (--force replaces it, --out writes elsewhere)")
    frame = sources.parse(sources.fetch(source, load_settings().s3_endpoint_url))
    draft = draft_spec(frame, source, name=name, target=target)
    header = (
        f"# Dataset spec proposed by `mlstack spec init` from {source} ({len(frame)} rows).\n"
        "# Review every line before training on it; each field is described in docs/dataset-spec.md.\n"
    )
    out.write_text(header + yaml.safe_dump(draft.spec, sort_keys=False, allow_unicode=True), encoding="utf-8")
    console.print(
        f"wrote {out}: {draft.spec['task']} of {draft.spec['target']!r} from {len(draft.spec['features'])} features"
    )
    for note in draft.notes:
        typer.echo(f"  review: {note}", err=True)
    console.print(f"then: MLSTACK_DATASET={out} .venv/bin/mlstack run")
