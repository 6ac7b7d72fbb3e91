"""Where a drift alert went, or why it did not: against a real SMTP sink and a closed port.

`send_alert` (the drift DAG's alert step, `make drift-demo`) names the SMTP host:port and the
recipients when a mail is sent, and one line naming the settings, without a traceback, when nothing
listens there.
"""

from __future__ import annotations

import logging

import pytest

from devstack.ports import LOOPBACK, free_port
from mlstack import alerts
from mlstack.config import Settings
from mlstack.drift import flow

# Sets up the embedded Airflow environment before Airflow is imported (see tests/dags/_airflow.py).
from tests.dags._airflow import lifecycle_env

pytestmark = pytest.mark.integration


@pytest.fixture
def clean_env(tmp_path, caplog):
    # Airflow's logging setup (on the first mail) replaces the root handlers, caplog's included:
    # listen on the module's own logger instead.
    logger = logging.getLogger("mlstack.alerts")
    logger.addHandler(caplog.handler)
    caplog.set_level(logging.INFO, logger="mlstack.alerts")
    with lifecycle_env(tmp_path):
        yield
    logger.removeHandler(caplog.handler)


def _settings(port: int) -> Settings:
    return Settings(
        _env_file=None,
        smtp_host=LOOPBACK,
        smtp_port=port,
        smtp_starttls=False,
        smtp_ssl=False,
        alert_recipients="oncall@example.test, second@example.test",
    )


def test_sent_mail_logs_host_port_and_recipients(clean_env, smtp_server, caplog):
    caplog.set_level(logging.INFO, logger="mlstack.alerts")
    assert alerts.send_alert("[mlstack] hello", "<p>x</p>", settings=_settings(smtp_server.port)) is True
    smtp_server.wait_for(1)
    sent = {r.getMessage() for r in caplog.records if "alert mail sent" in r.getMessage()}
    assert sent == {
        f"alert mail sent to oncall@example.test, second@example.test via SMTP "
        f"{LOOPBACK}:{smtp_server.port}: [mlstack] hello"
    }


def test_closed_port_is_one_line_naming_the_settings_no_traceback(clean_env, caplog):
    port = free_port()  # nothing listens on a fresh free port
    caplog.set_level(logging.INFO, logger="mlstack.alerts")
    assert alerts.send_alert("[mlstack] drift", "<p>x</p>", settings=_settings(port)) is False
    records = [r for r in caplog.records if "alert not mailed" in r.getMessage()]
    assert records  # once per handler it reached (caplog may sit on the root and the module logger)
    (text,) = {r.getMessage() for r in records}
    assert f"SMTP {LOOPBACK}:{port} refused the connection" in text
    assert "MLSTACK_SMTP_HOST" in text and "MLSTACK_SMTP_PORT" in text
    assert all(r.exc_info is None for r in records) and "Traceback" not in caplog.text


def test_drift_alert_step_survives_a_closed_port(clean_env, monkeypatch, caplog):
    """The DAG's alert task returns False instead of failing; the retraining is triggered anyway."""
    port = free_port()
    for key, value in {
        "MLSTACK_SMTP_HOST": LOOPBACK,
        "MLSTACK_SMTP_PORT": str(port),
        "MLSTACK_SMTP_STARTTLS": "false",
        "MLSTACK_SMTP_SSL": "false",
        "MLSTACK_ALERT_RECIPIENTS": "oncall@example.test",
    }.items():
        monkeypatch.setenv(key, value)
    xcom = {
        "drift_detected": True,
        "drifted_share": 0.5,
        "drifted_count": 3,
        "columns_checked": 6,
        "drift_share_threshold": 0.1,
        "top_drifted": [],
        "model": "penguins-classifier",
        "champion_version": "1",
        "dataset": "penguins",
        "reference_dataset_id": "ds-1",
        "reference_rows": 344,
        "reference_sampled_rows": 344,
        "current": "new.csv",
        "current_kind": "batch",
        "current_rows": 300,
        "current_sampled_rows": 300,
        "sample_size": 20000,
        "seed": 42,
        "retrain_source": "new.csv",
        "report_link": None,
        "report_html": None,
        "mlflow_run_id": None,
        "checked_at": "2026-01-01T00:00:00+00:00",
    }
    caplog.set_level(logging.INFO, logger="mlstack.alerts")
    assert flow.alert_task(xcom, "training_pipeline") is False
    assert f"alert not mailed: SMTP {LOOPBACK}:{port} refused the connection" in caplog.text
