"""A transient failure is retried without mail; one mail goes out after the last try.

Uses a tiny DAG with the training DAG's notifier and retry policy shape (retries, exponential
backoff) but no delay, so Airflow's own retry handling is exercised in seconds.
"""

from __future__ import annotations

import time
from datetime import datetime, timedelta

import pytest

from tests.dags._airflow import lifecycle_env

pytestmark = pytest.mark.dags


def _flaky_dag(marker_dir):
    from airflow.sdk import dag, task

    from mlstack.alerts import failure_notifier

    @dag(
        dag_id="mlstack_flaky_probe",
        schedule=None,
        start_date=datetime(2024, 1, 1),
        catchup=False,
        default_args={
            "retries": 2,
            "retry_delay": timedelta(seconds=0),
            "retry_exponential_backoff": 2.0,
            "on_failure_callback": failure_notifier(),
        },
    )
    def probe():
        @task
        def always_fails():
            tries = len(list(marker_dir.iterdir()))
            (marker_dir / f"try-{tries + 1}").touch()
            raise ConnectionError(f"MLflow unreachable (attempt {tries + 1})")

        always_fails()

    probe_dag = probe()
    # dag.test() needs the DAG serialized in the metadata DB, as the DAG processor would do.
    from airflow.dag_processing.bundles.manager import DagBundlesManager
    from airflow.dag_processing.dagbag import DagBag, sync_bag_to_db
    from airflow.utils.session import create_session

    with create_session() as session:
        DagBundlesManager().sync_bundles_to_db(session=session)
    bag = DagBag(dag_folder=str(marker_dir), collect_dags=False)
    bag.bag_dag(probe_dag)
    sync_bag_to_db(bag, "dags-folder", None)
    return probe_dag


def test_retries_do_not_mail_and_the_last_try_mails_once(airflow_db, smtp_server, tmp_path):
    markers = tmp_path / "tries"
    markers.mkdir()
    env = {
        "MLSTACK_SMTP_HOST": smtp_server.host,
        "MLSTACK_SMTP_PORT": str(smtp_server.port),
        "MLSTACK_SMTP_STARTTLS": "false",
        "MLSTACK_ALERT_RECIPIENTS": "oncall@example.test",
    }
    with lifecycle_env(tmp_path / "home", **env):
        run = _flaky_dag(markers).test()
    assert run.state == "failed"
    assert len(list(markers.iterdir())) == 3  # one try + two retries
    (mail,) = smtp_server.wait_for(1, timeout=30)
    assert "mlstack_flaky_probe.always_fails failed" in mail["Subject"]
    assert "try 3 of 3" in mail["Subject"]
    assert "ConnectionError: MLflow unreachable (attempt 3)" in mail.get_body(("html",)).get_content()
    time.sleep(1)
    assert len(smtp_server.messages) == 1
