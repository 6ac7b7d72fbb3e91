"""The drift DAG run embedded with `dag.test()`, and the training runs it queued.

The simulation without servers (``make drift-demo``) and the DAG tests run the real DAGs with
``dag.test()`` on embedded defaults. There is no scheduler in that mode, so `run_triggered`
stands in for it: it executes each queued run of the training DAG (the one the drift DAG's
TriggerDagRunOperator created) with the same logical date, run id and conf.

Airflow must be configured by the environment before it is imported: `use_embedded_env` does that
for a fresh process (``mlstack drift dag-test | run-triggered``); ``mlstack drift env`` prints the
same environment for a shell.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mlstack.airflow.dag_files import DRIFT_DAG_ID, TRAINING_DAG_ID, load_dag
from mlstack.airflow.embedded import airflow_db_ready, describe_run, embedded_airflow_env, migrate_airflow_db
from mlstack.config import Settings, load_settings


def embedded_env(settings: Settings | None = None) -> dict[str, str]:
    """The embedded Airflow environment under MLSTACK_HOME/airflow, its DB migrated once."""
    settings = settings or load_settings()
    env = embedded_airflow_env(Path(os.environ.get("AIRFLOW_HOME") or settings.home_dir / "airflow"))
    env["MLSTACK_HOME"] = str(settings.home_dir)
    if not airflow_db_ready(env):
        migrate_airflow_db(env)
    return env


def use_embedded_env() -> None:
    """Configure this process for the embedded Airflow, unless Airflow is imported already."""
    if "airflow" in sys.modules:
        return  # already configured by whoever imported it (e.g. `airflow dags test`)
    os.environ.update(embedded_env())


def run_drift_dag(conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One `drift_monitor` run with dag.test(); returns describe_run() plus seconds."""
    from airflow.sdk import timezone

    dag = load_dag(DRIFT_DAG_ID)
    started = time.perf_counter()
    run = dag.test(run_conf=dict(conf or {}), logical_date=timezone.utcnow())
    return {**describe_run(run.dag_id, run.run_id), "seconds": round(time.perf_counter() - started, 2)}


def queued_runs(dag_id: str) -> list[dict[str, Any]]:
    """The queued runs of `dag_id`, oldest first: run id, logical date, run_after and conf."""
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


def run_dag_once(dag_id: str, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """One run of any mlstack DAG with dag.test(); returns describe_run() plus seconds.

    dag.test() writes every DAG of the folder to the metadata DB first (schedules included), so
    an Asset event of this run queues the DAGs scheduled on that Asset."""
    from airflow.sdk import timezone

    dag = load_dag(dag_id)
    started = time.perf_counter()
    run = dag.test(run_conf=dict(conf or {}), logical_date=timezone.utcnow())
    return {**describe_run(run.dag_id, run.run_id), "seconds": round(time.perf_counter() - started, 2)}


def unpause(*dag_ids: str) -> None:
    """Write the DAG folder to the metadata DB (as dag.test() and the dag-processor do) and unpause
    these DAGs: an Asset event queues only DAGs that are not paused, and new DAGs start paused."""
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import BundleDagBag, sync_bag_to_db
    from airflow.models.dag import DagModel
    from airflow.utils.session import create_session
    from sqlalchemy import update

    manager = DagBundlesManager()
    manager.sync_bundles_to_db()
    for bundle in manager.get_all_dag_bundles():
        if not bundle.is_initialized:
            bundle.initialize()
        bag = BundleDagBag(dag_folder=bundle.path, bundle_path=bundle.path, bundle_name=bundle.name)
        sync_bag_to_db(bag, bundle.name, bundle.version)
    with create_session() as session:
        session.execute(update(DagModel).where(DagModel.dag_id.in_(dag_ids)).values(is_paused=False))


def asset_activity(uri: str) -> dict[str, Any]:
    """Events of the Asset at `uri` (newest last, with their extra) and the DAGs it has queued."""
    from airflow.models.asset import AssetDagRunQueue, AssetEvent, AssetModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        asset = session.scalar(select(AssetModel).where(AssetModel.uri == uri))
        if asset is None:
            return {"events": [], "queued": []}
        events = session.scalars(select(AssetEvent).where(AssetEvent.asset_id == asset.id)).all()
        queued = session.scalars(
            select(AssetDagRunQueue.target_dag_id).where(AssetDagRunQueue.asset_id == asset.id)
        ).all()
        return {
            "events": [{"source_dag_id": e.source_dag_id, "extra": dict(e.extra or {})} for e in events],
            "queued": sorted(queued),
        }
