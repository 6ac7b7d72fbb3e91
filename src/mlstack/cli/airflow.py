"""`mlstack airflow`: the DAG demo, REST triggers, the preloaded scheduler, the native services."""

from __future__ import annotations

import json
import secrets
import time
from pathlib import Path
from types import ModuleType
from typing import Annotated, Any

import typer

from mlstack.cli.common import EXIT_ERROR, app, console, guard
from mlstack.errors import ConfigError, MlstackError

airflow_app = typer.Typer(
    help="Airflow: the training DAG demo, triggering DAG runs, the scheduler, local services.",
    no_args_is_help=True,
)
app.add_typer(airflow_app, name="airflow", rich_help_panel="Orchestration")

# Options Typer must leave alone: they belong to the `airflow` command line.
PASS_THROUGH = {"allow_extra_args": True, "ignore_unknown_options": True}


@airflow_app.command()
@guard
def demo() -> None:
    """The lifecycle through the real training DAG (dag.test on SQLite, no servers).

    Exit 0 when the run succeeded, 1 when it failed (the failed tasks are named).
    """
    from mlstack.airflow.embedded import demo as run_demo
    from mlstack.cli.lifecycle import print_summary

    started = time.perf_counter()
    with console.status("running the training DAG (airflow dag.test) ...", spinner="dots"):
        out = run_demo()
    run = out.run
    if out.summary is None:
        console.print(f"[red]DAG run {run['run_id']} {run['state']}[/red]: tasks {out.failed_tasks}")
        raise typer.Exit(1)
    print_summary(out.summary)
    timing = ", ".join(f"{k}={v:.1f}" for k, v in out.timings.items())
    console.print(
        f"DAG {run['dag_id']} run {run['run_id']}: {run['state']} ({timing}, "
        f"total {time.perf_counter() - started:.1f}s)"
    )


@airflow_app.command()
@guard
def trigger(
    dag_id: Annotated[str, typer.Argument(help="DAG to run")] = "training_pipeline",
    conf: Annotated[str, typer.Option(help="Run conf as a JSON object (the DAG's params)")] = "{}",
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the run to finish")] = True,
    timeout: Annotated[float, typer.Option(help="Seconds to wait for the run")] = 1800.0,
    url: Annotated[str | None, typer.Option(help="Airflow base URL (MLSTACK_AIRFLOW_URL)")] = None,
) -> None:
    """Trigger a DAG run through the REST API v2 (then unpause the DAG) and wait for it.

    A paused DAG is unpaused only once the run exists, and the run stands for the period that is
    due: the unpause starts no scheduled run of its own. A failed run names each failed task and
    its error.

    Prints the run (state, timings, tasks) as JSON. Exit 0: success; 1: the run failed; 2: the
    trigger itself failed (login, unknown DAG, timeout).
    """
    import requests

    from mlstack.airflow.client import AirflowClient
    from mlstack.config import load_settings

    try:
        params = json.loads(conf)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"--conf: not JSON ({exc})") from None
    if not isinstance(params, dict):
        raise ConfigError("--conf: must be a JSON object")
    # A run id without "+" or ":" (Airflow's default has both): safe to paste into a URL.
    run_id = f"manual__cli_{time.strftime('%Y%m%dT%H%M%SZ', time.gmtime())}_{secrets.token_hex(2)}"
    started = time.monotonic()
    try:
        client = AirflowClient.from_settings(load_settings(**({"airflow_url": url} if url else {})))
        if not wait:
            run = client.start_run(dag_id, params, run_id=run_id)
            _said_triggered(dag_id, run)
            typer.echo(json.dumps({"dag_id": dag_id, "run_id": run["dag_run_id"], "state": run["state"]}))
            return
        result = client.trigger_and_wait(
            dag_id,
            params,
            timeout=timeout,
            run_id=run_id,
            on_triggered=lambda run: _said_triggered(dag_id, run),
        )
    except requests.RequestException as exc:
        raise MlstackError(f"Airflow API: {exc}") from None
    typer.echo(json.dumps(result.to_dict(), indent=2))
    # Plain lines on stderr (no wrapping): scripts read the run id and the outcome from them.
    outcome = "success" if result.state == "success" else "FAILED"
    typer.echo(f"{result.run_id}: {outcome} after {time.monotonic() - started:.0f}s", err=True)
    if result.state != "success":
        failed = result.failure_summary() or "no task failed: see the run in the Airflow UI"
        typer.echo(failed, err=True)
        raise typer.Exit(1)


def _said_triggered(dag_id: str, run: dict[str, Any]) -> None:
    typer.echo(f"triggered {dag_id} run {run['dag_run_id']}", err=True)


@airflow_app.command(context_settings=PASS_THROUGH, add_help_option=False)
def scheduler(ctx: typer.Context) -> None:
    """`airflow scheduler ARGS...` in this process, the lifecycle's modules preloaded first.

    LocalExecutor forks its workers from the scheduler and each task from a worker: every task
    starts with scikit-learn, pandas and MLflow imported. Compose and the native services run it.
    """
    from mlstack.airflow.preload import run_airflow_preloaded

    run_airflow_preloaded(["scheduler", *ctx.args])


# --------------------------------------------------------------------------------------------
# `mlstack airflow services`: the four Airflow services on this machine (dev tooling)
# --------------------------------------------------------------------------------------------

services_app = typer.Typer(
    help="Airflow's api-server, scheduler, dag-processor and triggerer on this machine (dev tooling).",
    no_args_is_help=True,
)
airflow_app.add_typer(services_app, name="services")

StateDirOpt = Annotated[
    Path | None, typer.Option("--state-dir", help="State folder (default: $MLSTACK_HOME/airflow-services)")
]


def _services() -> ModuleType:
    """devstack.airflow_services, installed with the dev dependency group only."""
    try:
        import devstack.airflow_services as services
    except ImportError:
        raise MlstackError("the native Airflow services are dev tooling: run `make setup`") from None
    return services


@services_app.command()
@guard
def up(
    state_dir: StateDirOpt = None,
    port: Annotated[
        int | None, typer.Option(help="API/UI port (default: from MLSTACK_AIRFLOW_URL, 8080)")
    ] = None,
    cwd: Annotated[
        Path | None, typer.Option(help="Working dir of the services (.env/.secrets); default: the repo")
    ] = None,
    parallelism: Annotated[int, typer.Option(help="Task slots of LocalExecutor")] = 2,
    timeout: Annotated[float, typer.Option(help="Seconds to wait until healthy")] = 300.0,
    as_json: Annotated[bool, typer.Option("--json", help="Print the timings as JSON")] = False,
) -> None:
    """Start the services (or keep them running) and wait until they are healthy.

    With MLSTACK_ENV=production the secrets check the containers run comes first (exit 2 on a
    default or weak secret, one line per variable, before anything starts)."""
    services = _services()
    state = services.state_at(state_dir)
    kwargs: dict[str, Any] = {"cwd": cwd.resolve()} if cwd else {}
    try:
        started = services.up(state, port=port, parallelism=parallelism, timeout=timeout, **kwargs)
    except ConfigError as exc:  # the check's report as it is: one line per secret, never re-wrapped
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(EXIT_ERROR) from None
    if as_json:
        typer.echo(json.dumps(started.to_dict()))


@services_app.command()
@guard
def down(state_dir: StateDirOpt = None) -> None:
    """Stop the services by PID and check that no process is left (exit 1 if one is)."""
    _stop(state_dir, purge=False)


@services_app.command()
@guard
def purge(
    state_dir: StateDirOpt = None,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask (scripts, CI)")] = False,
) -> None:
    """Stop the services, then delete their state folder and local database (asks first)."""
    if not yes:
        where = _services().state_at(state_dir).root
        typer.confirm(
            f"Delete {where} (Airflow config, logs, run history and its local PostgreSQL)?", abort=True
        )
    _stop(state_dir, purge=True)


def _stop(state_dir: Path | None, *, purge: bool) -> None:
    services = _services()
    state = services.state_at(state_dir)
    if (services.purge if purge else services.down)(state):  # processes left: exit 1
        raise typer.Exit(1)


@services_app.command()
@guard
def status(state_dir: StateDirOpt = None) -> None:
    """PIDs and health of each component (exit 1 unless all run and are healthy)."""
    services = _services()
    report = services.status(services.state_at(state_dir))
    typer.echo(report.report())
    if not report.ok:
        raise typer.Exit(1)


@services_app.command("airflow", context_settings=PASS_THROUGH, add_help_option=False)
@guard
def airflow_command(ctx: typer.Context, state_dir: StateDirOpt = None) -> None:
    """Any `airflow` CLI command against these services, e.g. `... airflow dags list`."""
    services = _services()
    raise typer.Exit(services.run_airflow(services.state_at(state_dir), [a for a in ctx.args if a != "--"]))
