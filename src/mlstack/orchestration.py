"""Airflow glue: DAG params -> a lifecycle Context, Airflow environments, preloading, the DAG demo.

DAG files call :func:`run_step`; everything here is importable without Airflow except the
functions that say they run it. Heavy modules (pandas, scikit-learn, MLflow) are imported only by
:func:`preload` and inside the steps.
"""

from __future__ import annotations

import os
import secrets
import sys
import time
import warnings
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from mlstack.config import Settings, load_settings
from mlstack.errors import ConfigError, DataValidationError

TRAINING_DAG_ID = "training_pipeline"
REPO_ROOT = Path(__file__).resolve().parents[2]
DAGS_FOLDER = REPO_ROOT / "dags"
PLUGINS_FOLDER = REPO_ROOT / "plugins"

# DAG params that override settings for one run (None/"" = keep the configured value).

# Imported once by the scheduler before LocalExecutor forks its workers: every task process is a
# fork of a worker, so it starts with these already in memory instead of paying 4-5 s to import
# scikit-learn and MLflow again in each task.
PRELOAD_MODULES = (
    "numpy",
    "pandas",
    "pyarrow",
    "pyarrow.parquet",
    "sklearn.ensemble",
    "sklearn.linear_model",
    "sklearn.model_selection",
    "sklearn.metrics",
    "sklearn.pipeline",
    "sklearn.compose",
    "sklearn.impute",
    "sklearn.preprocessing",
    "pandera",
    "mlflow",
    "mlflow.sklearn",
    "mlflow.models",
    "mlflow.tracking",
    # imported lazily by log_model / the registry / plots on first use (measured: `run_all` in a
    # process with the modules above still imported these):
    "mlflow.pyfunc",
    "mlflow.models.display_utils",
    "mlflow.tracing.processor.otel",
    "mlflow.types.responses",
    "git",
    "opentelemetry.sdk.metrics",
    "pandera.backends.pandas.register",
    "pyarrow.dataset",
    "pyarrow.pandas_compat",
    "skops.io",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "mlstack.lifecycle",
    "mlstack.data.ingest",
    "mlstack.data.validation",
    "mlstack.model.train",
    "mlstack.model.evaluate",
    "mlstack.registry.promotion",
    "mlstack.alerts",
    "mlstack.orchestration",
    # What a LocalExecutor worker (the task supervisor) and each task runner import on first use.
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.sdk.api.client",
    "airflow.dag_processing.bundles.manager",
    "airflow.dag_processing.dagbag",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.smtp.notifications.smtp",
)
# Only when the tasks open the tracking database themselves (embedded SQLite, or a database URI).
# With a tracking server they never import these (checked: `run_all` against `mlflow server`),
# and they are 1.5-2 s of the scheduler's start (B8 in benchmarks/).
DATABASE_STORE_MODULES = (
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.utils.search_logged_model_utils",
    "mlflow.store.tracking.sqlalchemy_workspace_store",
    "mlflow.store.model_registry.sqlalchemy_workspace_store",
    "alembic.command",
    "alembic.config",
)


# --------------------------------------------------------------------------------------------
# what DAG tasks call
# --------------------------------------------------------------------------------------------


def schedule(settings: Settings | None = None) -> str | None:
    """The training DAG's schedule from ``MLSTACK_SCHEDULE`` (cron or preset; none = manual only)."""
    from mlstack.airflow.schedule import training_schedule

    return training_schedule(settings or load_settings())


def settings_for(params: Mapping[str, Any] | None) -> Settings:
    """Settings with this run's overrides applied (see mlstack.airflow.params)."""
    from mlstack.airflow.params import settings_for as mapped

    return mapped(params)


def context_from_params(params: Mapping[str, Any] | None):
    """The lifecycle Context for one DAG run (dataset spec and overrides from its params)."""
    from mlstack.airflow.params import context_for

    return context_for(params)


def run_step(step: str, params: Mapping[str, Any] | None, *args: Any) -> dict:
    """Run one lifecycle step for an Airflow task; bad data and bad settings are not retried.

    ``DataValidationError`` and ``ConfigError`` become ``AirflowFailException`` (the task fails at
    once, the failure mail goes out, the champion stays); anything else propagates and Airflow
    retries it with backoff (MLflow, S3 or database hiccups).
    """
    from mlstack import lifecycle

    if step not in lifecycle.STEPS:
        raise ValueError(f"unknown step {step!r}; steps are {lifecycle.STEPS}")
    try:
        with warnings.catch_warnings():
            # skops looks up numpy ufuncs with getattr() on every loaded module; Airflow's
            # deprecation shims answer each lookup with a warning (hundreds per model in dag.test).
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.")
            warnings.filterwarnings("ignore", message=r".*is deprecated.*", module=r"skops\.")
            ctx = context_from_params(params)
            if step == "ingest":
                return lifecycle.ingest(ctx, (params or {}).get("source") or None)
            return getattr(lifecycle, step)(ctx, *args)
    except (DataValidationError, ConfigError) as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc


# --------------------------------------------------------------------------------------------
# preloading heavy modules in long-lived Airflow processes
# --------------------------------------------------------------------------------------------


def preload(modules: tuple[str, ...] | None = None) -> dict[str, float]:
    """Import ``modules`` (ignoring missing optional ones), then fill the per-process caches the
    steps would otherwise fill in every task; returns seconds per module (and per cache).

    By default: what the tasks import with the configured tracking URI (``PRELOAD_MODULES``, plus
    ``DATABASE_STORE_MODULES`` unless the tasks talk to a tracking server)."""
    import importlib

    settings = _settings_or_none()
    if modules is None:  # no settings: the tasks' own error says why; preload as for a database
        opens_database = settings is None or settings.embedded
        modules = PRELOAD_MODULES + (DATABASE_STORE_MODULES if opens_database else ())
    timings: dict[str, float] = {}
    for name in modules:
        started = time.perf_counter()
        try:
            importlib.import_module(name)
        except ImportError:
            continue
        timings[name] = time.perf_counter() - started
    started = time.perf_counter()
    if _warm_requirement_map():
        timings["mlflow requirement map"] = time.perf_counter() - started
    started = time.perf_counter()
    if settings is not None and _warm_local_tracking_stores(settings):
        timings["mlflow sqlite stores"] = time.perf_counter() - started
    return timings


def _settings_or_none() -> Settings | None:
    """The tasks' settings, or None when they do not load (the tasks report that themselves)."""
    try:
        return load_settings()
    except Exception:
        return None


def _warm_requirement_map() -> bool:
    """Build MLflow's module -> package map once, before the fork.

    ``log_model`` checks the model's pip requirements against the installed distributions; the
    first check in a process scans every installed package's file list (0.5 s here, measured
    with pyinstrument in a task process), and the map is a module-level cache, so a fork inherits
    it. A private helper: if MLflow renames it, tasks only lose the head start.
    """
    try:
        from mlflow.utils import requirements_utils

        requirements_utils._init_packages_to_modules_map()
    except Exception:  # an optimisation, never a reason to fail a start
        return False
    return True


def _warm_local_tracking_stores(settings: Settings) -> bool:
    """Open MLflow's tracking and registry stores once, before the fork, on a local SQLite store.

    A store's first use in a process builds its SQLAlchemy engine and checks the database schema
    against MLflow's migrations (0.15-0.2 s per store, measured in a forked task process: twice
    in each of register and promote). MLflow caches the stores per URI, so the forked tasks
    inherit them; the pooled connections are closed here first, so no connection is shared
    across processes and each task opens its own. Only for SQLite: a remote database that is
    down must not hold up the scheduler's start, and a tracking server needs no warming.
    """
    try:
        if not settings.resolved_tracking_uri.startswith("sqlite:"):
            return False
        from mlstack import tracking

        client = tracking.configure(settings)
        client.search_experiments(max_results=1)
        client.search_registered_models(max_results=1)
        # Private attributes of MlflowClient: if they move, tasks only lose the head start.
        stores = (client._tracking_client.store, client._get_registry_client().store)
        for store in stores:
            engine = getattr(store, "engine", None)
            if engine is not None:
                engine.dispose()
    except Exception:  # an optimisation, never a reason to fail a start
        return False
    return True


def airflow_main(argv: list[str], *, preload_modules: bool = True) -> None:
    """``airflow <argv>`` in this process, after preloading the lifecycle's heavy modules.

    Used for the scheduler: LocalExecutor forks its workers from it, and every task process is
    forked from a worker, so tasks inherit scikit-learn, pandas and MLflow already imported.
    """
    import airflow  # noqa: F401 - configure Airflow from the environment first

    if preload_modules:
        preload()
    from airflow.__main__ import main

    sys.argv = ["airflow", *argv]
    main()


# --------------------------------------------------------------------------------------------
# Airflow environments
# --------------------------------------------------------------------------------------------


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
    import subprocess

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
# dag.test() on embedded defaults (the demo, tests)
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

    dag = dag_factory() if dag_factory else load_training_dag()
    started = time.perf_counter()
    run = dag.test(run_conf=dict(conf or {}), logical_date=logical_date or timezone.utcnow())
    seconds = time.perf_counter() - started
    return {**describe_run(run.dag_id, run.run_id), "seconds": seconds}


def load_training_dag(dag_id: str = TRAINING_DAG_ID):
    """Import the DAG object from the DAG folder file (a fresh module each call)."""
    import importlib.util

    path = DAGS_FOLDER / f"{dag_id}.py"
    spec = importlib.util.spec_from_file_location(f"mlstack_dag_{dag_id}_{time.monotonic_ns()}", path)
    if spec is None or spec.loader is None:
        raise ConfigError(f"cannot load DAG file {path}")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    from airflow.sdk import DAG

    for value in vars(module).values():
        if isinstance(value, DAG) and value.dag_id == dag_id:
            return value
    raise ConfigError(f"{path} defines no DAG {dag_id!r}")


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


def demo(airflow_home: Path | None = None, *, conf: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The lifecycle through the real training DAG on embedded defaults (``make demo-dag``).

    Sets up an Airflow home (SQLite) under ``MLSTACK_HOME/airflow``, migrates it once, runs the
    DAG with ``dag.test()`` in this process and returns ``{"run": ..., "summary": ..., timings}``.
    Must run in a process that has not imported Airflow yet (the CLI entry point does this).
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
    return {"run": result, "summary": summary, "timings": timings}


def main(argv: list[str] | None = None) -> int:
    """``python -m mlstack.orchestration demo | airflow <args...>``."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["airflow"]:
        airflow_main(argv[1:])
        return 0
    if argv[:1] == ["demo"]:
        return _demo_cli()
    print("usage: python -m mlstack.orchestration demo | airflow <airflow args...>", file=sys.stderr)
    return 2


def _demo_cli() -> int:
    from mlstack.cli.common import console
    from mlstack.cli.lifecycle import print_summary

    started = time.perf_counter()
    with console.status("running the training DAG (airflow dag.test) ...", spinner="dots"):
        out = demo()
    run = out["run"]
    if out["summary"] is None:
        failed = [t for t, s in run["tasks"].items() if s != "success"]
        console.print(f"[red]DAG run {run['run_id']} {run['state']}[/red]: tasks {failed}")
        return 1
    print_summary(out["summary"])
    timing = ", ".join(f"{k}={v:.1f}" for k, v in out["timings"].items())
    console.print(
        f"DAG {run['dag_id']} run {run['run_id']}: {run['state']} ({timing}, "
        f"total {time.perf_counter() - started:.1f}s)"
    )
    return 0


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
