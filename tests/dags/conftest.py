"""Fixtures of the DAG tests; the embedded Airflow environment is set up in tests/dags/_airflow.py."""

from __future__ import annotations

import shutil
import time
from collections.abc import Iterator
from typing import Any

import pytest

from mlstack.airflow.embedded import migrate_airflow_db
from tests.dags._airflow import AIRFLOW_ENV, AIRFLOW_ROOT, IMPORTED_BEFORE, lifecycle_env, run_dag


@pytest.fixture(scope="session")
def airflow_configured() -> dict[str, str]:
    """The embedded Airflow environment of this pytest process (no database needed)."""
    import airflow.configuration

    if IMPORTED_BEFORE or AIRFLOW_ENV["AIRFLOW_HOME"] != airflow.configuration.AIRFLOW_HOME:
        pytest.fail(
            "Airflow was imported before tests/dags set AIRFLOW_HOME "
            f"({airflow.configuration.AIRFLOW_HOME}); run `pytest tests/dags` in its own process",
            pytrace=False,
        )
    return AIRFLOW_ENV


@pytest.fixture(scope="session")
def airflow_db(airflow_configured) -> Iterator[dict[str, str]]:
    """The session's Airflow metadata DB (SQLite), migrated once; removed at the end."""
    started = time.perf_counter()
    migrate_airflow_db(AIRFLOW_ENV)
    print(f"\nairflow db migrate: {time.perf_counter() - started:.1f}s")
    yield AIRFLOW_ENV
    shutil.rmtree(AIRFLOW_ROOT, ignore_errors=True)


@pytest.fixture(scope="session")
def champion_home(airflow_db, tmp_path_factory) -> dict[str, Any]:
    """A lifecycle home where the DAG ran once on the default dataset: {home, result}."""
    home = tmp_path_factory.mktemp("champion")
    with lifecycle_env(home):
        result = run_dag()
    return {"home": home, "result": result}
