"""Embedded Airflow for DAG tests: a throwaway AIRFLOW_HOME (SQLite) per pytest process.

Airflow reads its configuration when it is first imported, so the environment is set here, at
collection time, before any test module imports Airflow. Each lifecycle run gets its own
MLSTACK_HOME and runs from an empty working directory (a developer's .env/.secrets never leak in);
the process environment is restored afterwards (Airflow exports AIRFLOW_CTX_* and MLflow exports
MLFLOW_TRACKING_URI into os.environ while tasks run in-process).
"""

from __future__ import annotations

import atexit
import contextlib
import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from mlstack.airflow.embedded import embedded_airflow_env

AIRFLOW_ROOT = Path(tempfile.mkdtemp(prefix="mlstack-airflow-test-"))
# Removed at exit even when no test asked for the database (e.g. only the alert tests ran).
atexit.register(shutil.rmtree, AIRFLOW_ROOT, ignore_errors=True)
AIRFLOW_ENV = embedded_airflow_env(AIRFLOW_ROOT / "home")
# The api base URL shows up in the log links of the failure mails.
AIRFLOW_ENV["AIRFLOW__API__BASE_URL"] = "http://airflow.example.test:8080"
IMPORTED_BEFORE = "airflow" in __import__("sys").modules
os.environ.update(AIRFLOW_ENV)

# Variables that must not reach a test run from the developer's shell or from an earlier run.
_LEAKY_PREFIXES = ("MLSTACK_", "AIRFLOW_CTX_", "MLFLOW_TRACKING_", "MLFLOW_REGISTRY_")
_LEAKY_NAMES = ("AIRFLOW_CONN_SMTP_DEFAULT", "_MLSTACK_SMTP_CONN_FROM_SETTINGS", "SSL_CERT_FILE")


@contextlib.contextmanager
def lifecycle_env(home: Path, **env: str) -> Iterator[Path]:
    """Embedded mlstack settings under ``home`` (+ ``env``), cwd = ``home``; restored on exit."""
    saved_env, saved_cwd = dict(os.environ), os.getcwd()
    for key in list(os.environ):
        if key.startswith(_LEAKY_PREFIXES) or key in _LEAKY_NAMES:
            del os.environ[key]
    home.mkdir(parents=True, exist_ok=True)
    os.environ.update({**AIRFLOW_ENV, "MLSTACK_HOME": str(home / "state"), "MLSTACK_SCHEDULE": "none"})
    os.environ.update(env)
    os.chdir(home)
    try:
        yield home
    finally:
        os.chdir(saved_cwd)
        os.environ.clear()
        os.environ.update(saved_env)


def run_dag(conf: dict[str, Any] | None = None) -> dict[str, Any]:
    """One ``dag.test()`` run of the training DAG in this process (inside ``lifecycle_env``)."""
    from mlstack.airflow.embedded import run_dag_test

    result = run_dag_test(conf)
    print(f"dag.test {result['run_id']}: {result['state']} in {result['seconds']:.1f}s {result['tasks']}")
    return result


def registry(home: Path) -> dict[str, Any]:
    """Champion and versions of the penguins model in the embedded store under ``home``."""
    from mlstack import lifecycle
    from mlstack.config import load_settings
    from mlstack.registry.versions import champion_version, list_versions

    settings = load_settings(home=home / "state", tracking_uri=None, _env_file=None)
    ctx = lifecycle.context(settings, "penguins")
    versions = list_versions(settings, ctx.spec)
    name = versions[0]["name"] if versions else ctx.spec.model_name
    return {"champion": champion_version(settings, name), "versions": versions}
