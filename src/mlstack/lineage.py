"""Where a model came from: git commit, package version, orchestrator run (Airflow or `cli`)."""

from __future__ import annotations

import os
import subprocess
from functools import lru_cache
from pathlib import Path

from mlstack import __version__

TAG_PREFIX = "mlstack."


@lru_cache(maxsize=1)
def git_commit() -> str:
    """MLSTACK_GIT_COMMIT (set in images and CI), else the checkout's HEAD, else `unknown`."""
    if os.environ.get("MLSTACK_GIT_COMMIT"):
        return os.environ["MLSTACK_GIT_COMMIT"]
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def orchestrator_context() -> dict[str, str]:
    """Airflow exports AIRFLOW_CTX_* into every task process; elsewhere we were run by hand."""
    dag_id = os.environ.get("AIRFLOW_CTX_DAG_ID")
    run_id = os.environ.get("AIRFLOW_CTX_DAG_RUN_ID")
    if dag_id and run_id:
        return {"orchestrator": "airflow", "dag_id": dag_id, "orchestrator_run_id": run_id}
    return {"orchestrator": "cli", "dag_id": "", "orchestrator_run_id": "cli"}


def lineage_tags(dataset_id: str, snapshot_uri: str, **extra: str) -> dict[str, str]:
    tags = {
        "dataset_id": dataset_id,
        "snapshot_uri": snapshot_uri,
        "git_commit": git_commit(),
        "package_version": __version__,
        **orchestrator_context(),
        **extra,
    }
    return {TAG_PREFIX + k: str(v) for k, v in tags.items()}
