"""Preloading the lifecycle's heavy modules in the Airflow scheduler, before LocalExecutor forks.

Every task process is a fork of a LocalExecutor worker, itself a fork of the scheduler: what the
scheduler imported (and cached) before the fork, each task starts with instead of importing
scikit-learn, pandas and MLflow again. Measured effects are in benchmarks/README.md.
"""

from __future__ import annotations

import importlib
import sys
import time

from mlstack.config import Settings, load_settings

# What a task imports on its way through the lifecycle.
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
    # imported lazily by log_model / the registry / plots on first use (found by listing what
    # `run_all` still imported in a process that had the modules above):
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
    "skl2onnx",  # the train task converts the pipeline (model/onnx_form.py)
    "onnxruntime",
    "matplotlib",
    "matplotlib.pyplot",
    "matplotlib.backends.backend_agg",
    "mlstack.lifecycle",
    "mlstack.data.ingest",
    "mlstack.data.validation",
    "mlstack.model.train",
    "mlstack.model.evaluate",
    "mlstack.model.artifact",
    "mlstack.model.onnx_form",
    "mlstack.registry.versions",
    "mlstack.registry.promotion",
    "mlstack.alerts",
    "mlstack.airflow.tasks",
    # What a LocalExecutor worker (the task supervisor) and each task runner import on first use.
    "airflow.sdk.execution_time.supervisor",
    "airflow.sdk.execution_time.task_runner",
    "airflow.sdk.api.client",
    "airflow.dag_processing.bundles.manager",
    "airflow.dag_processing.dagbag",
    "airflow.providers.standard.decorators.python",
    "airflow.providers.smtp.notifications.smtp",
)
# Only when the tasks open the tracking database themselves (embedded SQLite, or a database URI):
# with a tracking server they never import these, and they would only slow the scheduler's start.
DATABASE_STORE_MODULES = (
    "mlflow.store.tracking.sqlalchemy_store",
    "mlflow.store.model_registry.sqlalchemy_store",
    "mlflow.utils.search_logged_model_utils",
    "mlflow.store.tracking.sqlalchemy_workspace_store",
    "mlflow.store.model_registry.sqlalchemy_workspace_store",
    "alembic.command",
    "alembic.config",
)


def preload(modules: tuple[str, ...] | None = None) -> dict[str, float]:
    """Import ``modules`` (ignoring missing optional ones), then fill the per-process caches the
    steps would otherwise fill in every task; returns seconds per module (and per cache).

    By default: what the tasks import with the configured tracking URI (``PRELOAD_MODULES``, plus
    ``DATABASE_STORE_MODULES`` unless the tasks talk to a tracking server)."""
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
    first check in a process scans every installed package's file list, and the map is a
    module-level cache, so a fork inherits it. A private helper: if MLflow renames it, tasks only
    lose the head start.
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
    against MLflow's migrations (twice in each of register and promote). MLflow caches the stores
    per URI, so the forked tasks inherit them; the pooled connections are closed here first, so
    no connection is shared across processes and each task opens its own. Only for SQLite: a
    remote database that is down must not hold up the scheduler's start, and a tracking server
    needs no warming.
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


def run_airflow_preloaded(argv: list[str], *, preload_modules: bool = True) -> None:
    """``airflow <argv>`` in this process, after :func:`preload` (unless ``preload_modules`` is off).

    Used for the scheduler: LocalExecutor forks its workers from it, and every task process is
    forked from a worker, so tasks inherit scikit-learn, pandas and MLflow already imported.
    """
    import airflow  # noqa: F401 - configure Airflow from the environment first

    if preload_modules:
        preload()
    from airflow.__main__ import main

    sys.argv = ["airflow", *argv]
    main()
