"""The DAG folder imports cleanly and fast; the training DAG has the expected shape and safeguards."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from mlstack.airflow.dag_files import DAGS_FOLDER, TRAINING_DAG_ID

pytestmark = pytest.mark.dags

STEPS = ["ingest", "validate", "train", "evaluate", "register", "promote"]


@pytest.fixture(scope="module")
def dagbag(airflow_configured):
    from airflow.dag_processing.dagbag import DagBag

    return DagBag(dag_folder=str(DAGS_FOLDER))


def test_dag_folder_imports_without_errors(dagbag):
    assert dagbag.import_errors == {}
    assert TRAINING_DAG_ID in dagbag.dags


def test_tasks_and_dependencies(dagbag):
    dag = dagbag.dags[TRAINING_DAG_ID]
    assert sorted(dag.task_dict) == sorted(STEPS)
    for upstream, downstream in itertools.pairwise(STEPS):
        assert downstream in dag.task_dict[upstream].downstream_task_ids, (upstream, downstream)
    # train also reads the snapshot URI from ingest; register reads train's run id.
    assert dag.task_dict["train"].upstream_task_ids == {"ingest", "validate"}
    assert dag.task_dict["register"].upstream_task_ids == {"train", "evaluate"}
    assert dag.task_dict["promote"].downstream_task_ids == set()


def test_every_task_retries_with_backoff_and_mails_on_failure(dagbag):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    for task in dagbag.dags[TRAINING_DAG_ID].tasks:
        assert task.retries >= 1, task.task_id
        assert task.retry_exponential_backoff >= 2, task.task_id
        assert task.max_retry_delay <= timedelta(minutes=10), task.task_id
        notifiers = [cb for cb in task.on_failure_callback if isinstance(cb, SmtpNotifier)]
        assert len(notifiers) == 1, (task.task_id, task.on_failure_callback)
        assert not task.on_retry_callback, "a retry must not mail"


def test_dag_settings(dagbag):
    dag = dagbag.dags[TRAINING_DAG_ID]
    assert dag.max_active_runs == 1
    assert dag.catchup is False
    assert {"mlstack", "training"} <= set(dag.tags)
    assert "validate" in dag.doc_md and "champion" in dag.doc_md
    assert set(dag.params) == {"source", "dataset", "gate_metric", "gate_floor", "gate_min_improvement"}
    assert dag.params["dataset"] == "penguins"
    # No DAG-level failure callback: one failed task sends exactly one mail.
    assert not dag.on_failure_callback


def _parse_in_subprocess(cwd, schedule: str | None = None) -> dict:
    """Parse the DAG file in a fresh interpreter (Airflow imported first): seconds + heavy modules."""
    code = f"""
import json, sys, time
import airflow.sdk  # the cost every DAG file pays anyway
from airflow.dag_processing.dagbag import DagBag
t0 = time.perf_counter()
bag = DagBag(dag_folder={str(DAGS_FOLDER / "training_pipeline.py")!r})
seconds = time.perf_counter() - t0
heavy = [m for m in ("sklearn", "mlflow", "pandas", "pyarrow", "matplotlib", "pandera") if m in sys.modules]
dag = bag.dags.get({TRAINING_DAG_ID!r})
print(json.dumps({{"seconds": seconds, "errors": {{k: str(v) for k, v in bag.import_errors.items()}},
                  "heavy": heavy, "schedule": str(dag.schedule) if dag else None}}))
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MLSTACK_")}
    if schedule is not None:
        env["MLSTACK_SCHEDULE"] = schedule
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,  # no .env/.secrets of the checkout
        timeout=300,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_parse_is_fast_and_imports_nothing_heavy(tmp_path):
    result = _parse_in_subprocess(tmp_path)
    print(f"training DAG parse: {result['seconds']:.3f}s")
    assert result["errors"] == {}
    assert result["heavy"] == [], "heavy modules imported at parse time"
    assert result["seconds"] < 1.0


@pytest.mark.parametrize(
    ("value", "expected"), [(None, "@daily"), ("0 3 * * *", "0 3 * * *"), ("none", "None")]
)
def test_schedule_comes_from_settings(tmp_path, value, expected):
    result = _parse_in_subprocess(tmp_path, value)
    assert result["errors"] == {}
    assert result["schedule"] == expected
