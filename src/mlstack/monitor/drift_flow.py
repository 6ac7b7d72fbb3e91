"""Drift -> alert -> retrain: what the `drift_monitor` DAG's tasks call, and the embedded simulation.

Task bodies (called by `dags/drift_monitor.py`, one call per task):

- :func:`check_task` runs :func:`mlstack.monitor.drift.check_drift` and returns a small summary.
  Bad input (missing file, unknown window, no champion, mismatched columns) fails at once with
  `AirflowFailException` (no retry; the failure notifier mails it as a *failure*). Too few rows
  (a quiet prediction log) skips the run: no verdict, no alert, no retraining.
- :func:`retrain_conf` is the short-circuit: the training DAG's conf when drift was found, else
  None (alert and retraining are skipped).
- :func:`alert_task` mails the drift alert (top drifted columns, report link) through
  :func:`mlstack.alerts.send_alert`, the same SMTP path as failure mails.

The simulation without servers (``make drift-demo``) runs the real DAGs with ``dag.test()`` on
embedded defaults. There is no scheduler in that mode, so :func:`run_triggered` stands in for it:
it executes each queued run of the training DAG (the one the drift DAG's TriggerDagRunOperator
created) with the same logical date, run id and conf.

``python -m mlstack.monitor.drift_flow env | dag-test | run-triggered`` are the entry points the
make targets and the DAG tests use (each in a fresh process, as Airflow must be configured by the
environment before it is imported).
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlstack.config import Settings, load_settings
from mlstack.errors import MlstackError

log = logging.getLogger(__name__)

DRIFT_DAG_ID = "drift_monitor"
TOP_COLUMNS = 5


# --------------------------------------------------------------------------------------------
# task bodies
# --------------------------------------------------------------------------------------------


def check_task(params: Mapping[str, Any] | None) -> dict:
    """The drift check for one DAG run; returns what downstream tasks need (XCom-sized)."""
    from mlstack.airflow.params import context_for
    from mlstack.monitor.drift import NotEnoughData, check_drift, format_summary

    params = params or {}
    try:
        ctx = context_for(params)
        settings = ctx.settings
        current = (params.get("current") or settings.drift_current or "").strip()
        result = check_drift(ctx, current)
    except NotEnoughData as exc:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"no verdict: {exc}") from exc
    except MlstackError as exc:
        # Bad input or no champion is not transient: fail now, mail it as a failure.
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"drift check failed: {type(exc).__name__}: {exc}") from exc
    log.info("%s", format_summary(result))
    return summarize(result, ctx.spec.name)


def summarize(result, dataset: str) -> dict:
    """The XCom of the check task: verdict, top drifted columns, report link, retraining source."""
    top = result.top_drifted(TOP_COLUMNS)
    current = result.current
    return {
        "drift_detected": result.drift_detected,
        "drifted_share": round(result.drifted_share, 4),
        "drifted_count": result.drifted_count,
        "columns_checked": result.columns_checked,
        "drift_share_threshold": result.drift_share_threshold,
        "top_drifted": [
            {"column": c.column, "method": c.method, "score": c.score, "threshold": c.threshold} for c in top
        ],
        "model": result.model["name"],
        "champion_version": result.model["champion_version"],
        "dataset": dataset,
        "reference_dataset_id": result.reference["dataset_id"],
        "current": current["source"],
        "current_kind": current["kind"],
        "current_rows": current["rows"],
        # A batch is retrained on as kept by ingest (raw copy in the artifact store); the prediction
        # log has no labels, so its drift retrains on the configured source.
        "retrain_source": current.get("raw_uri") if current["kind"] == "batch" else None,
        "report_link": result.report.get("link"),
        "report_html": result.report.get("html_uri"),
        "mlflow_run_id": result.mlflow.get("run_id"),
    }


def retrain_conf(summary: Mapping[str, Any], params: Mapping[str, Any] | None = None) -> dict | None:
    """The training DAG's conf when drift was found; None (falsy: short-circuit) otherwise."""
    if not summary or not summary.get("drift_detected"):
        return None
    params = params or {}
    return {
        "source": summary.get("retrain_source"),
        "dataset": params.get("dataset") or summary.get("dataset"),
    }


def alert_mail(summary: Mapping[str, Any], training_dag_id: str | None) -> tuple[str, str]:
    """Subject and HTML body of the drift alert (mlstack.alerts' drift layout)."""
    from mlstack.alerts import drift_alert_mail

    top = summary.get("top_drifted") or []
    details = {
        "drifted_columns": [c["column"] for c in top],
        "share": summary.get("drifted_share"),
        "top drifted columns": "; ".join(
            f"{c['column']}: {c['method']} = {c['score']:.4g} (threshold {c['threshold']:.4g})" for c in top
        ),
        "drifted / checked": f"{summary.get('drifted_count')}/{summary.get('columns_checked')} "
        f"(dataset drift at share >= {summary.get('drift_share_threshold')})",
        "champion version": summary.get("champion_version"),
        "reference dataset": summary.get("reference_dataset_id"),
        "current data": f"{summary.get('current')} ({summary.get('current_rows')} rows)",
    }
    action = ""
    if training_dag_id:
        source = summary.get("retrain_source") or "the configured source"
        action = (
            f"Retraining triggered: DAG {training_dag_id} on {source}. "
            "The promotion gate decides whether the new model replaces the champion."
        )
    return drift_alert_mail(
        model=str(summary.get("model")),
        dataset=str(summary.get("dataset")),
        summary=details,
        report_uri=summary.get("report_link"),
        action=action,
    )


def alert_task(summary: Mapping[str, Any], training_dag_id: str | None = None) -> bool:
    """Send the drift alert; False (logged) when SMTP or recipients are not configured."""
    from mlstack.alerts import send_alert

    subject, body = alert_mail(summary, training_dag_id)
    return send_alert(subject, body)


# --------------------------------------------------------------------------------------------
# embedded runs (no scheduler): the simulation and the DAG tests
# --------------------------------------------------------------------------------------------


def embedded_env(settings: Settings | None = None) -> dict[str, str]:
    """The embedded Airflow environment under MLSTACK_HOME/airflow, its DB migrated once."""
    from mlstack.airflow.embedded import airflow_db_ready, embedded_airflow_env, migrate_airflow_db

    settings = settings or load_settings()
    env = embedded_airflow_env(Path(os.environ.get("AIRFLOW_HOME") or settings.home_dir / "airflow"))
    env["MLSTACK_HOME"] = str(settings.home_dir)
    if not airflow_db_ready(env):
        migrate_airflow_db(env)
    return env


def _use_embedded_env() -> None:
    if "airflow" in sys.modules:
        return  # already configured by whoever imported it (e.g. `airflow dags test`)
    os.environ.update(embedded_env())


def run_drift_dag(conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One `drift_monitor` run with dag.test(); returns describe_run() plus seconds."""
    from airflow.sdk import timezone

    from mlstack.airflow.dag_files import load_dag
    from mlstack.airflow.embedded import describe_run

    dag = load_dag(DRIFT_DAG_ID)
    started = time.perf_counter()
    run = dag.test(run_conf=dict(conf or {}), logical_date=timezone.utcnow())
    return {**describe_run(run.dag_id, run.run_id), "seconds": round(time.perf_counter() - started, 2)}


def queued_runs(dag_id: str) -> list[dict[str, Any]]:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session
    from airflow.utils.state import DagRunState
    from sqlalchemy import select

    with create_session() as session:
        runs = session.scalars(
            select(DagRun).where(DagRun.dag_id == dag_id, DagRun.state == DagRunState.QUEUED)
        ).all()
        return [
            {
                "run_id": r.run_id,
                "logical_date": r.logical_date,
                "run_after": r.run_after,
                "conf": dict(r.conf or {}),
            }
            for r in sorted(runs, key=lambda r: r.run_after)
        ]


def run_triggered(dag_id: str | None = None) -> list[dict[str, Any]]:
    """Stand-in for the scheduler: execute every queued run of the training DAG with dag.test().

    dag.test() replaces the run with the same logical date, and names its run after run_after: given
    the logical date there too, the run keeps its id, logical date and conf.
    """
    from mlstack.airflow.dag_files import TRAINING_DAG_ID, load_dag
    from mlstack.airflow.embedded import describe_run

    dag_id = dag_id or TRAINING_DAG_ID
    out = []
    for queued in queued_runs(dag_id):
        dag = load_dag(dag_id)
        started = time.perf_counter()
        # TriggerDagRunOperator names the run after its logical date; dag.test() after run_after.
        run_after = queued["logical_date"] or queued["run_after"]
        run = dag.test(run_conf=queued["conf"], logical_date=queued["logical_date"], run_after=run_after)
        described = describe_run(run.dag_id, run.run_id)
        out.append({**described, "conf": queued["conf"], "seconds": round(time.perf_counter() - started, 2)})
    return out


def _print_run(run: Mapping[str, Any]) -> None:
    tasks = ", ".join(f"{t}={s}" for t, s in sorted(run["tasks"].items()))
    print(f"{run['dag_id']} {run['run_id']}: {run['state']} ({run.get('seconds', '?')} s) [{tasks}]")
    check = run["xcom"].get("check")
    if check:
        verdict = "DRIFT" if check["drift_detected"] else "no drift"
        cols = ", ".join(c["column"] for c in check["top_drifted"]) or "-"
        print(f"  drift check: {verdict}; share {check['drifted_share']}; top drifted: {cols}")
        print(f"  report: {check['report_link']}")
    gate = run["xcom"].get("promote")
    if gate:
        print(f"  gate: {gate['verdict']} v{gate['version']}: {gate['reason']}")


def ensure_champion(settings: Settings | None = None) -> str:
    """The champion version; on embedded defaults with none yet, train one first (`mlstack run`).

    With a tracking server and no champion this raises NoChampionError: a drift check against a
    model trained on the spot would hide a real misconfiguration.
    """
    from mlstack import lifecycle, tracking
    from mlstack.errors import NoChampionError
    from mlstack.registry import champion_version

    settings = settings or load_settings()
    ctx = lifecycle.context(settings)
    name = tracking.model_name(settings, ctx.spec)
    version = champion_version(settings, name)
    if version:
        return version
    if not settings.embedded:
        raise NoChampionError(f"model {name}: no @champion on {settings.masked()['tracking_uri']}")
    print(f"no @champion of {name} in the embedded store yet: training one (mlstack run) ...", flush=True)
    summary = lifecycle.run_all(ctx)
    if not summary["champion"]:
        raise NoChampionError(f"model {name}: the bootstrap run was refused: {summary['gate']['reason']}")
    return summary["champion"]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m mlstack.monitor.drift_flow")
    sub = parser.add_subparsers(dest="cmd", required=True)
    sub.add_parser("env", help="print `export` lines of the embedded Airflow env (migrates its DB once)")
    dag_test = sub.add_parser("dag-test", help="run drift_monitor with dag.test() once per --current")
    dag_test.add_argument("--current", action="append", default=[], help="batch URI or predictions:<window>")
    dag_test.add_argument("--run-triggered", action="store_true", help="then execute the triggered training")
    dag_test.add_argument("--json", action="store_true")
    triggered = sub.add_parser("run-triggered", help="execute queued training DAG runs (no scheduler here)")
    triggered.add_argument("--json", action="store_true")
    sub.add_parser("ensure-champion", help="print the champion version; embedded: train one if none")
    sub.add_parser("latest", help="print the latest drift report's summary")
    args = parser.parse_args(argv)

    if args.cmd == "ensure-champion":
        try:
            print(f"@champion: v{ensure_champion()}")
        except MlstackError as exc:
            print(f"error: {exc}", file=sys.stderr)
            return 2
        return 0
    if args.cmd == "latest":
        from mlstack.monitor.drift import format_summary, latest_report

        latest = latest_report(load_settings())
        print(format_summary(latest["summary"]) if latest else "no drift report yet")
        return 0

    if args.cmd == "env":
        import shlex

        for key, value in embedded_env().items():
            print(f"export {key}={shlex.quote(value)}")
        return 0

    _use_embedded_env()
    result: dict[str, Any] = {"drift_runs": [], "training_runs": []}
    if args.cmd == "dag-test":
        for current in args.current or [None]:
            conf = {"current": current} if current else {}
            result["drift_runs"].append(run_drift_dag(conf))
        if args.run_triggered:
            result["training_runs"] = run_triggered()
    else:
        result["training_runs"] = run_triggered()
    if args.json:
        print(json.dumps(result, default=str))
    else:
        for run in result["drift_runs"] + result["training_runs"]:
            _print_run(run)
        if args.cmd == "run-triggered" and not result["training_runs"]:
            print("no queued training runs (no drift, or already run)")
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
