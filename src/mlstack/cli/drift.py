"""`mlstack drift ...`: the drift check, the CI contract, the latest report and the embedded DAG runs."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.markup import escape

from mlstack.cli.common import (
    EXIT_ERROR,
    DatasetOpt,
    JsonOpt,
    app,
    console,
    context,
    emit,
    err,
    guard,
    spinner,
)
from mlstack.errors import MlstackError

if TYPE_CHECKING:
    from mlstack.drift.result import DriftResult

drift_app = typer.Typer(
    help="Drift of new data vs the champion's training data (Evidently), in CI and in the drift DAG.",
    no_args_is_help=True,
)
app.add_typer(drift_app, name="drift", rich_help_panel="Monitoring")

CurrentOpt = Annotated[
    str | None,
    typer.Option(help="Batch URI, or predictions:<window> (e.g. predictions:24h); MLSTACK_DRIFT_CURRENT"),
]


@contextmanager
def _check_failed_exits_2() -> Iterator[None]:
    """Anything unexpected is still "the check failed" (2), never "drift" (3)."""
    try:
        yield
    except MlstackError:
        raise  # `guard` prints it and exits 2
    except Exception:
        err.print_exception(max_frames=5)
        raise typer.Exit(EXIT_ERROR) from None


def _print_result(result: DriftResult) -> None:
    from mlstack.drift.result import format_summary

    style = "red" if result.drift_detected else "green"
    lines = format_summary(result.summary()).splitlines()
    console.print(f"[bold {style}]{escape(lines[0])}[/bold {style}]")
    for line in lines[1:]:
        console.print(escape(line), highlight=False)


@drift_app.command()
@guard
def check(
    current: CurrentOpt = None,
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
    from mlstack.drift.check import check_drift

    ctx = context(dataset)
    with _check_failed_exits_2(), spinner("checking drift"):
        result = check_drift(
            ctx,
            current or ctx.settings.drift_current,
            drift_share=drift_share,
            sample_size=sample_size,
            report_dir=report_dir,
        )
    if as_json:
        emit(result.to_dict(), True)
    else:
        _print_result(result)
    if fail_on_drift and result.drift_detected:
        raise typer.Exit(result.exit_code)


@drift_app.command()
@guard
def ci(
    report_dir: Annotated[
        Path, typer.Option(help="Report folder: latest.html, latest.json, exit-code")
    ] = Path("reports/drift"),
    current: Annotated[
        str | None,
        typer.Option(
            help="Batch URI or predictions:<window>; empty: a fresh seeded no-drift synthetic batch"
        ),
    ] = None,
    rows: Annotated[int, typer.Option(help="Rows of the synthetic batch")] = 500,
    seed: Annotated[int, typer.Option(help="Seed of the synthetic batch")] = 7,
    dataset: DatasetOpt = None,
) -> None:
    """The CI drift contract (Jenkins' Drift check stage): the check with its exit code in a file.

    Trains a champion first on embedded defaults when there is none. Exit 0: no drift; 3: drift;
    2: the check failed. The same code is written to <report-dir>/exit-code.
    """
    from mlstack.drift.ci import run_ci

    with _check_failed_exits_2():
        result = run_ci(report_dir, current or None, rows=rows, seed=seed, dataset=dataset)
    _print_result(result)
    console.print(
        f"drift ci: exit code {result.exit_code} (0 no drift, 3 drift, 2 the check failed); "
        f"report {report_dir / 'latest.html'}",
        highlight=False,
    )
    raise typer.Exit(result.exit_code)


@drift_app.command()
@guard
def latest(dataset: DatasetOpt = None, as_json: JsonOpt = False) -> None:
    """The summary of the latest drift report (what the Monitoring page shows)."""
    from mlstack.drift.reports import latest_report
    from mlstack.drift.result import format_summary

    report = latest_report(context(dataset).settings)
    if report is None:
        typer.echo("no drift report yet")
    elif as_json:
        emit(report.result.to_dict(), True)
    else:
        typer.echo(format_summary(report.result.summary()))


@drift_app.command("ensure-champion")
@guard
def ensure_champion(dataset: DatasetOpt = None) -> None:
    """Print the champion version; on embedded defaults with none yet, train one first."""
    from mlstack.drift.inputs import ensure_champion as ensure

    typer.echo(f"@champion: v{ensure(context(dataset))}")


@drift_app.command()
def env() -> None:
    """Print `export` lines of the embedded Airflow environment (its DB migrated once)."""
    import shlex

    from mlstack.airflow.embedded_runs import embedded_env

    for key, value in embedded_env().items():
        typer.echo(f"export {key}={shlex.quote(value)}")


@drift_app.command("dag-test")
def dag_test(
    current: Annotated[
        list[str] | None, typer.Option(help="Batch URI or predictions:<window>; once per run")
    ] = None,
    then_run_triggered: Annotated[
        bool, typer.Option("--run-triggered", help="Then execute the triggered training")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Run drift_monitor with dag.test() on the embedded Airflow, once per --current."""
    from mlstack.airflow import embedded_runs as embedded

    embedded.use_embedded_env()
    confs: list[dict[str, str]] = [{"current": c} for c in current] if current else [{}]
    drift_runs = [embedded.run_drift_dag(conf) for conf in confs]
    training_runs = embedded.run_triggered() if then_run_triggered else []
    _print_runs(drift_runs, training_runs, as_json)


@drift_app.command("run-triggered")
def run_triggered(as_json: JsonOpt = False) -> None:
    """Execute the queued training DAG runs (no scheduler in embedded mode)."""
    from mlstack.airflow import embedded_runs as embedded

    embedded.use_embedded_env()
    training_runs = embedded.run_triggered()
    _print_runs([], training_runs, as_json)
    if not as_json and not training_runs:
        typer.echo("no queued training runs (no drift, or already run)")


def _print_runs(drift_runs: list[dict[str, Any]], training_runs: list[dict[str, Any]], as_json: bool) -> None:
    if as_json:
        typer.echo(json.dumps({"drift_runs": drift_runs, "training_runs": training_runs}, default=str))
        return
    for run in drift_runs + training_runs:
        _print_run(run)


def _print_run(run: Mapping[str, Any]) -> None:
    from mlstack.drift.result import DriftSummary, format_summary

    tasks = ", ".join(f"{t}={s}" for t, s in sorted(run["tasks"].items()))
    typer.echo(f"{run['dag_id']} {run['run_id']}: {run['state']} ({run.get('seconds', '?')} s) [{tasks}]")
    check = run["xcom"].get("check")
    if check:
        for line in format_summary(DriftSummary.from_xcom(check)).splitlines():
            typer.echo(f"  {line}")
    gate = run["xcom"].get("promote")
    if gate:
        typer.echo(f"  gate: {gate['verdict']} v{gate['version']}: {gate['reason']}")
