"""Alert mails through Airflow's SMTP provider, built from mlstack settings, to real SMTP servers.

The connection traps (implicit SSL by default, ``disable_tls=false`` in a URI disabling STARTTLS)
are checked on the provider's own hook; mails go to aiosmtpd on loopback, plain and STARTTLS-only
with a self-signed certificate that the client must verify.
"""

from __future__ import annotations

import json
import os
import ssl
import types

import pytest

from mlstack import alerts
from mlstack.config import Settings

# Sets up the embedded Airflow environment before Airflow is imported (see tests/dags/_airflow.py).
from tests.dags._airflow import lifecycle_env

pytestmark = pytest.mark.integration


def _settings(**values) -> Settings:
    return Settings(_env_file=None, **values)


def _hook_view(conn_json: str):
    """How the provider's SmtpHook reads a connection given as AIRFLOW_CONN_SMTP_DEFAULT."""
    from airflow.providers.smtp.hooks.smtp import SmtpHook

    os.environ[alerts.SMTP_CONN_ENV] = conn_json
    hook = SmtpHook(smtp_conn_id=alerts.SMTP_CONN_ID)
    hook.smtp_connection = hook.get_connection(alerts.SMTP_CONN_ID)
    return hook


@pytest.fixture
def clean_env(tmp_path):
    with lifecycle_env(tmp_path):
        yield


def test_gmail_settings_give_starttls_on_587_without_implicit_ssl(clean_env):
    gmail = _settings(
        smtp_host="smtp.gmail.com",
        smtp_port=587,
        smtp_user="someone@gmail.com",
        smtp_password="abcd efgh ijkl mnop",  # an app password (16 letters)
        alert_recipients="oncall@example.test",
    )
    conn = alerts.smtp_connection(gmail)
    assert conn["extra"]["disable_ssl"] is True
    assert "disable_tls" not in conn["extra"]  # present at all would risk disabling STARTTLS
    hook = _hook_view(alerts.smtp_connection_json(gmail))
    assert (hook.host, hook.port) == ("smtp.gmail.com", 587)
    assert hook.use_ssl is False
    assert hook.smtp_starttls is True
    assert (hook.smtp_user, hook.smtp_password) == ("someone@gmail.com", "abcd efgh ijkl mnop")
    assert hook.from_email == "someone@gmail.com"
    assert hook.ssl_context is None  # default: verify the server certificate


def test_implicit_ssl_and_plain_modes(clean_env):
    ssl_hook = _hook_view(
        alerts.smtp_connection_json(_settings(smtp_host="mail.test", smtp_port=465, smtp_ssl=True))
    )
    assert (ssl_hook.use_ssl, ssl_hook.smtp_starttls) == (True, False)
    plain = _settings(smtp_host="mailpit", smtp_port=1025, smtp_starttls=False)
    plain_hook = _hook_view(alerts.smtp_connection_json(plain))
    assert (plain_hook.use_ssl, plain_hook.smtp_starttls) == (False, False)
    assert "password" not in alerts.smtp_connection(plain)


def test_uri_trap_disable_tls_false_disables_starttls(clean_env):
    """Why the JSON form: in a URI every extra is a string, and "false" is truthy."""
    from airflow.sdk.definitions.connection import Connection

    hook = _hook_view(
        Connection.from_uri(
            "smtp://u:p@smtp.gmail.com:587?disable_ssl=true&disable_tls=false", conn_id="x"
        ).as_json()
    )
    assert hook.smtp_starttls is False  # the trap: STARTTLS silently off


def test_connection_exported_by_hand_is_not_overwritten(clean_env):
    by_hand = json.dumps({"conn_type": "smtp", "host": "relay.internal", "port": 25})
    env = {alerts.SMTP_CONN_ENV: by_hand}
    assert alerts.ensure_smtp_connection(_settings(smtp_host="other.test"), env) is True
    assert env[alerts.SMTP_CONN_ENV] == by_hand
    ours: dict[str, str] = {}
    alerts.ensure_smtp_connection(_settings(smtp_host="a.test"), ours)
    alerts.ensure_smtp_connection(_settings(smtp_host="b.test"), ours)  # refreshed: it was ours
    assert json.loads(ours[alerts.SMTP_CONN_ENV])["host"] == "b.test"


def _plain(server, **more) -> Settings:
    return _settings(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_starttls=False,
        smtp_sender="alerts@example.test",
        alert_recipients="oncall@example.test",
        **more,
    )


def _starttls(server) -> Settings:
    return _settings(
        smtp_host=server.host,
        smtp_port=server.port,
        smtp_user=server.username,
        smtp_password=server.password,
        smtp_sender="alerts@example.test",
        alert_recipients="oncall@example.test, second@example.test",
    )


def test_drift_alert_reaches_plain_smtp(clean_env, smtp_server):
    from mlstack.drift.result import ColumnDrift, DriftSummary

    summary = DriftSummary(
        drift_detected=True,
        drifted_share=0.14,
        drifted_count=1,
        columns_checked=7,
        drift_share_threshold=0.1,
        top_drifted=(ColumnDrift("bill_length_mm", "K-S p_value", 1e-6, 0.05, True, 5e4),),
        model="penguins-classifier",
        champion_version="1",
        dataset="penguins",
        reference_dataset_id="ds-1",
        reference_rows=344,
        reference_sampled_rows=344,
        current="new.csv",
        current_kind="batch",
        current_rows=300,
        current_sampled_rows=300,
        sample_size=20_000,
        seed=42,
        retrain_source="s3://bucket/raw/new.csv",
        report_link="s3://bucket/reports/drift/x.html",
        report_html="s3://bucket/reports/drift/x.html",
        mlflow_run_id=None,
        checked_at="2026-01-01T00:00:00+00:00",
    )
    subject, body = alerts.drift_alert_mail(summary, action="retraining triggered")
    assert alerts.send_alert(subject, body, settings=_plain(smtp_server)) is True
    (mail,) = smtp_server.wait_for(1)
    assert mail["Subject"] == subject
    assert "1 drifted column(s) (14% of columns)" in subject
    assert "bill_length_mm" in mail.get_body(("html",)).get_content()


def test_alert_over_starttls_with_login_verifies_the_certificate(clean_env, smtp_starttls_server):
    os.environ["SSL_CERT_FILE"] = str(smtp_starttls_server.cert_path)  # trust the test CA only
    assert alerts.send_alert("[mlstack] test", "<p>hello</p>", settings=_starttls(smtp_starttls_server))
    (mail,) = smtp_starttls_server.wait_for(1)
    delivery = smtp_starttls_server.deliveries[0]
    assert sorted(delivery.rcpt_tos) == ["oncall@example.test", "second@example.test"]
    assert delivery.login == smtp_starttls_server.username
    assert mail["From"] == "alerts@example.test"


def test_untrusted_certificate_is_refused(clean_env, smtp_starttls_server):
    # No SSL_CERT_FILE: the self-signed certificate is not trusted, and nothing is sent.
    with pytest.raises(ssl.SSLCertVerificationError):
        alerts.send_alert("[mlstack] test", "<p>x</p>", settings=_starttls(smtp_starttls_server))
    assert smtp_starttls_server.messages == []


def test_without_smtp_settings_alerts_are_logged_not_sent(clean_env, caplog):
    assert alerts.send_alert("s", "b", settings=_settings()) is False
    assert alerts.send_alert("s", "b", settings=_settings(smtp_host="mail.test")) is False  # no recipients
    assert "MLSTACK_ALERT_RECIPIENTS" in caplog.text


def test_failure_mail_names_everything_and_survives_template_syntax():
    ti = types.SimpleNamespace(
        dag_id="training_pipeline",
        task_id="train",
        run_id="manual__2026-01-01T00:00:00+00:00",
        try_number=3,
        max_tries=2,
        log_url="http://127.0.0.1:8080/dags/training_pipeline/runs/manual__x/tasks/train?try_number=3",
    )
    error = RuntimeError("MLflow said {{ nope }} <b>& {% raw %}")
    subject, body = alerts.failure_mail({"ti": ti, "exception": error})
    assert subject.startswith("[mlstack] training_pipeline.train failed (run manual__2026-01-01")
    assert "try 3 of 3" in subject
    assert "RuntimeError: MLflow said {{ nope }} &lt;b&gt;&amp; {% raw %}" in body
    assert "tasks/train?try_number=3" in body


def test_failure_notifier_is_an_smtp_notifier_resolved_at_send_time(clean_env, smtp_server):
    from airflow.providers.smtp.notifications.smtp import SmtpNotifier

    notifier = alerts.failure_notifier()
    assert isinstance(notifier, SmtpNotifier)
    os.environ.update(
        {
            "MLSTACK_SMTP_HOST": smtp_server.host,
            "MLSTACK_SMTP_PORT": str(smtp_server.port),
            "MLSTACK_SMTP_STARTTLS": "false",
            "MLSTACK_ALERT_RECIPIENTS": "late@example.test",
        }
    )
    ti = types.SimpleNamespace(
        dag_id="d", task_id="t", run_id="r1", try_number=1, max_tries=0, log_url="http://x/log"
    )
    notifier({"ti": ti, "exception": ValueError("boom {{")})
    notifier({"ti": types.SimpleNamespace(**{**vars(ti), "run_id": "r2"}), "exception": ValueError("two")})
    first, second = smtp_server.wait_for(2)
    assert "run r1" in first["Subject"] and "run r2" in second["Subject"]  # the shared object is not mutated
    assert smtp_server.deliveries[0].rcpt_tos == ["late@example.test"]
    assert notifier.to is None and notifier.subject is None
