"""``devstack``: the development commands behind ``make requirements`` and ``make secrets``."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(help="mlstack development tooling (not part of the product).", no_args_is_help=True)


@app.command("requirements")
def requirements_cmd(
    check: Annotated[bool, typer.Option("--check", help="fail if a committed file is stale")] = False,
    uv: Annotated[str | None, typer.Option("--uv", help="path of uv (default: $UV, PATH, .tools)")] = None,
) -> None:
    """Regenerate the images' requirements*.txt from uv.lock (same pins in tests and images)."""
    from devstack.requirements import find_uv, stale_files

    stale = stale_files(find_uv(uv or os.environ.get("UV")), write=not check)
    if check and stale:
        for diff in stale.values():
            sys.stdout.write(diff + "\n")
        typer.echo(f"stale: {', '.join(stale)}: run `make requirements`", err=True)
        raise typer.Exit(1)
    for name in [] if check else stale:
        typer.echo(f"wrote {name}")


@app.command("stack-secrets")
def stack_secrets_cmd(
    output: Annotated[Path | None, typer.Option(help="the file to write [default: <repo>/.secrets]")] = None,
    example: Annotated[
        Path | None, typer.Option(help="the template [default: <repo>/.secrets.example]")
    ] = None,
    force: Annotated[bool, typer.Option("--force", help="replace an existing output file")] = False,
) -> None:
    """Write .secrets from .secrets.example with fresh random values (mode 0600, never printed).

    An existing file is completed: its values stay, absent keys and `change-me` values are filled."""
    from devstack.stack_secrets import ROOT, write_secrets

    output = output or ROOT / ".secrets"
    done = write_secrets(example or ROOT / ".secrets.example", output, force=force)
    if done.created:
        typer.echo(f"wrote {output} ({len(done.fresh)} random values)")
        return
    typer.echo(f"{output}: kept {len(done.kept)} existing value(s)")
    if done.added:
        typer.echo(f"  added (random where the example says change-me): {', '.join(done.added)}")
    if done.fresh:
        typer.echo(f"  change-me replaced by a random value: {', '.join(done.fresh)}")
