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
    env_file: Annotated[
        Path | None, typer.Option(help="the .env that gets MLSTACK_SECRETS_DIR [default: beside output]")
    ] = None,
) -> None:
    """Write .secrets from .secrets.example with fresh random values (mode 0600, never printed),
    then the files compose mounts (one per secret, in MLSTACK_SECRETS_DIR, set in .env).

    An existing file is completed: its values stay, absent keys and `change-me` values are filled;
    the files are written anew from it each time (edit .secrets, then run this again)."""
    from dotenv import dotenv_values

    from devstack.stack_secrets import (
        DEFAULT_SECRETS_DIR,
        ROOT,
        SECRETS_DIR_VAR,
        set_secrets_dir,
        write_secret_files,
        write_secrets,
    )

    output = output or ROOT / ".secrets"
    done = write_secrets(example or ROOT / ".secrets.example", output, force=force)
    if done.created:
        typer.echo(f"wrote {output} ({len(done.fresh)} random values)")
    else:
        typer.echo(f"{output}: kept {len(done.kept)} existing value(s)")
    if done.added:
        typer.echo(f"  added (random where the example says change-me): {', '.join(done.added)}")
    if done.fresh and not done.created:
        typer.echo(f"  change-me replaced by a random value: {', '.join(done.fresh)}")
    env_file = env_file or output.parent / ".env"
    if set_secrets_dir(env_file):
        typer.echo(f"{env_file}: {SECRETS_DIR_VAR}={DEFAULT_SECRETS_DIR} added")
    folder = dotenv_values(env_file).get(SECRETS_DIR_VAR) or DEFAULT_SECRETS_DIR
    directory = Path(folder) if Path(folder).is_absolute() else output.parent / folder
    names = write_secret_files(output, env_file, directory, ROOT / "docker-compose.yml")
    typer.echo(f"wrote {len(names)} secret files for compose in {directory} (mounted at /run/secrets)")
