"""`mlstack jenkins build`: trigger a Jenkins job, stream its console, exit with its result."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from mlstack.cli.common import app
from mlstack.jenkins import DEFAULT_JOB

jenkins_app = typer.Typer(
    help="Jenkins: trigger a build and follow it to its result (python-jenkins).",
    no_args_is_help=True,
)
app.add_typer(jenkins_app, name="jenkins", rich_help_panel="CI")


def _parse_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise typer.BadParameter(f"expected KEY=VALUE, got {text!r}")
    return key, value


def _status(message: str) -> None:
    typer.echo(f"[jenkins] {message}", err=True)


@jenkins_app.command("build")
def build(
    job: Annotated[str, typer.Argument(help="Job name, folder/name for a job in a folder")] = DEFAULT_JOB,
    param: Annotated[
        list[str] | None,
        typer.Option("--param", "-p", metavar="KEY=VALUE", help="Build parameter (repeatable)"),
    ] = None,
    timeout: Annotated[float, typer.Option(help="Seconds for queue + build")] = 3600.0,
    poll_interval: Annotated[float, typer.Option(help="Seconds between polls")] = 2.0,
    request_timeout: Annotated[float, typer.Option(help="Seconds per request")] = 30.0,
    abort_on_timeout: Annotated[
        bool,
        typer.Option(
            "--abort-on-timeout", help="Cancel the queue item or abort the build when the timeout is reached"
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", help="Do not stream the console log")] = False,
    env_file: Annotated[
        list[Path] | None,
        typer.Option(help="Dotenv file(s) to read when a variable is not set (default .env .secrets)"),
    ] = None,
) -> None:
    """Trigger a build, stream its console, exit with its result.

    Reads MLSTACK_JENKINS_URL, _USER and _TOKEN from the environment, then .env and .secrets.

    Exit 0: SUCCESS; 1: FAILURE, ABORTED, NOT_BUILT or cancelled; 2: bad settings, or Jenkins
    unreachable or refusing; 3: UNSTABLE; 4: timeout.
    """
    from mlstack.jenkins import results
    from mlstack.jenkins.build import build as run
    from mlstack.jenkins.client import JenkinsClient, environment
    from mlstack.jenkins.errors import JenkinsError, JenkinsTimeout, QueueItemCancelled

    parameters = dict(_parse_param(p) for p in param or [])
    env = environment(env_file or [Path(".env"), Path(".secrets")])
    try:
        client = JenkinsClient.from_env(env, request_timeout=request_timeout, poll_interval=poll_interval)
        outcome = run(
            client,
            job,
            parameters or None,
            timeout=timeout,
            out=None if quiet else sys.stdout,
            status=_status,
            abort_on_timeout=abort_on_timeout,
        )
    except JenkinsTimeout as exc:
        _status(f"timeout: {exc}")
        raise typer.Exit(results.EXIT_TIMEOUT) from None
    except QueueItemCancelled as exc:
        _status(str(exc))
        raise typer.Exit(results.EXIT_FAILED) from None
    except JenkinsError as exc:
        _status(f"error: {exc}")
        raise typer.Exit(results.EXIT_ERROR) from None
    _status(f"{outcome.job} #{outcome.number}: {outcome.result} ({outcome.url})")
    raise typer.Exit(outcome.exit_code)
