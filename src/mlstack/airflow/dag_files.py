"""The repository's DAG and plugin folders, the DAG ids, and loading a DAG object from its file.

Imported by the DAG files while Airflow parses them: nothing here imports Airflow at module level.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from mlstack.errors import ConfigError

TRAINING_DAG_ID = "training_pipeline"
DRIFT_DAG_ID = "drift_monitor"
BATCH_DAG_ID = "batch_inference"
QUALITY_DAG_ID = "quality_monitor"
REPO_ROOT = Path(__file__).resolve().parents[3]
DAGS_FOLDER = REPO_ROOT / "dags"
PLUGINS_FOLDER = REPO_ROOT / "plugins"


def load_dag(dag_id: str = TRAINING_DAG_ID) -> Any:
    """The DAG ``dag_id`` imported from ``DAGS_FOLDER/<dag_id>.py`` (a fresh module each call)."""
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
