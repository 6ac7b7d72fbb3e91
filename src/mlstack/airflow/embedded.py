"""Airflow without servers: an embedded (SQLite) environment, ``dag.test()`` runs, the DAG demo.

Used by ``mlstack airflow demo``, the drift simulation, the DAG tests and the benchmarks. Airflow
reads its configuration when first imported: set the environment (:func:`embedded_airflow_env`)
before anything imports it.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mlstack.airflow.dag_files import DAGS_FOLDER, PLUGINS_FOLDER, load_dag
from mlstack.config import Settings, load_settings
from mlstack.errors import ConfigError


def embedded_airflow_env(airflow_home: Path, *, dags_folder: Path = DAGS_FOLDER) -> dict[str, str]:
    """Environment of an embedded Airflow: SQLite metadata under ``airflow_home``, no examples."""
    airflow_home = Path(airflow_home).resolve()
    return {
        "AIRFLOW_HOME": str(airflow_home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(dags_folder),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(PLUGINS_FOLDER),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__CORE__UNIT_TEST_MODE": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{airflow_home / 'airflow.db'}",
        "AIRFLOW__CORE__EXECUTOR": "LocalExecutor",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(airflow_home / "logs"),
        "AIRFLOW__LOGGING__LOGGING_LEVEL": "WARNING",
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "60",
        # One shared secret for the in-process execution API (dag.test); stable per home.
        "AIRFLOW__API_AUTH__JWT_SECRET": _home_secret(airflow_home, "jwt_secret"),
    }


def _home_secret(home: Path, name: str) -> str:
    """A random secret kept 0600 in ``home/.<name>``: created once, the same on every call."""
    home.mkdir(parents=True, exist_ok=True)
    path = home / f".{name}"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def airflow_db_ready(env: Mapping[str, str]) -> bool:
    """True when the metadata DB of ``env`` was migrated by :func:`migrate_airflow_db` before."""
    return (Path(env["AIRFLOW_HOME"]) / ".migrated").exists()


def migrate_airflow_db(env: Mapping[str, str], timeout: float = 600) -> float:
    """``airflow db migrate`` in a subprocess with ``env``; returns seconds taken."""
    started = time.perf_counter()
    result = subprocess.run(
        [_airflow_bin(), "db", "migrate"],
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise ConfigError(f"airflow db migrate failed:\n{result.stdout[-2000:]}\n{result.stderr[-3000:]}")
    (Path(env["AIRFLOW_HOME"]) / ".migrated").write_text(time.strftime("%Y-%m-%dT%H:%M:%S"))
    return time.perf_counter() - started


def _airflow_bin() -> str:
    candidate = Path(sys.executable).parent / "airflow"
    return str(candidate) if candidate.exists() else "airflow"


# --------------------------------------------------------------------------------------------
# dag.test() runs and what they left in the metadata DB
# --------------------------------------------------------------------------------------------


def run_dag_test(
    conf: Mapping[str, Any] | None = None,
    *,
    logical_date: Any = None,
    dag_factory: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Run the training DAG once with ``dag.test()`` in this process; returns its outcome.

    Airflow must already be configured by the environment (see :func:`embedded_airflow_env`)
    with a migrated metadata DB. Returns ``{"run_id", "state", "tasks": {task_id: state},
    "xcom": {task_id: return value}, "seconds"}``.
    """
    from airflow.sdk import timezone

    dag = dag_factory() if dag_factory else load_dag()
    started = time.perf_counter()
    run = dag.test(run_conf=dict(conf or {}), logical_date=logical_date or timezone.utcnow())
    seconds = time.perf_counter() - started
    return {**describe_run(run.dag_id, run.run_id), "seconds": seconds}


def describe_run(dag_id: str, run_id: str) -> dict[str, Any]:
    """State, task states and return values of one DAG run, read from the metadata DB."""
    from airflow.models.dagrun import DagRun
    from airflow.models.xcom import XComModel
    from airflow.utils.session import create_session
    from sqlalchemy import select

    with create_session() as session:
        run = session.scalar(select(DagRun).where(DagRun.dag_id == dag_id, DagRun.run_id == run_id))
        if run is None:
            raise ConfigError(f"no run {run_id!r} of DAG {dag_id!r}")
        tasks = {ti.task_id: str(ti.state) for ti in run.get_task_instances(session=session)}
        rows = session.execute(
            select(XComModel.task_id, XComModel.value).where(
                XComModel.dag_id == dag_id, XComModel.run_id == run_id, XComModel.key == "return_value"
            )
        ).all()
        xcom = {task_id: XComModel.deserialize_value(_Row(value)) for task_id, value in rows}
        return {"dag_id": dag_id, "run_id": run_id, "state": str(run.state), "tasks": tasks, "xcom": xcom}


class _Row:
    """What ``XComModel.deserialize_value`` reads (``.value``)."""

    def __init__(self, value: Any) -> None:
        self.value = value


def summary_from_xcom(xcom: Mapping[str, Any], settings: Settings | None = None) -> dict[str, Any]:
    """The same summary ``mlstack run`` prints, from the training DAG's task return values."""
    from mlstack.registry.versions import champion_version

    settings = settings or load_settings()
    registered = xcom["register"]
    return {
        "ingest": xcom["ingest"],
        "validate": xcom["validate"],
        "train": xcom["train"],
        "metrics": xcom["evaluate"]["metrics"],
        "register": registered,
        "gate": xcom["promote"],
        "champion": champion_version(settings, registered["name"]),
    }


# --------------------------------------------------------------------------------------------
# the demo: the lifecycle through the real training DAG on embedded defaults
# --------------------------------------------------------------------------------------------


@dataclass
class DemoResult:
    """One demo run: the run's outcome (see :func:`run_dag_test`), the lifecycle summary when it
    succeeded (None otherwise) and seconds per phase."""

    run: dict[str, Any]
    summary: dict[str, Any] | None
    timings: dict[str, float]

    @property
    def failed_tasks(self) -> list[str]:
        """Tasks of the run that did not succeed."""
        return [task for task, state in self.run["tasks"].items() if state != "success"]


def demo(airflow_home: Path | None = None, *, conf: Mapping[str, Any] | None = None) -> DemoResult:
    """The lifecycle through the real training DAG on embedded defaults (``make demo``).

    Sets up an Airflow home (SQLite) under ``MLSTACK_HOME/airflow``, migrates it once and runs the
    DAG with ``dag.test()`` in this process. Must run in a process that has not imported Airflow
    yet (``mlstack airflow demo`` is one).
    """
    settings = load_settings()
    home = Path(airflow_home) if airflow_home else settings.home_dir / "airflow"
    env = embedded_airflow_env(home)
    if "airflow" in sys.modules and os.environ.get("AIRFLOW_HOME") != env["AIRFLOW_HOME"]:
        raise ConfigError(
            "demo(): Airflow was imported before its environment was set; run it in a new process"
        )
    timings: dict[str, float] = {}
    if not airflow_db_ready(env):
        timings["db_migrate_s"] = migrate_airflow_db(env)
    os.environ.update(env)
    os.environ.setdefault("MLSTACK_HOME", str(settings.home_dir))
    # dag.test() serves the execution API in-process through Starlette's test client.
    warnings.filterwarnings("ignore", message=r".*starlette\.testclient.*")
    result = run_dag_test(conf)
    timings["dag_test_s"] = result["seconds"]
    summary = summary_from_xcom(result["xcom"], settings) if result["state"] == "success" else None
    return DemoResult(run=result, summary=summary, timings=timings)
