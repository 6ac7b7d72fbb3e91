"""The server fixtures work: each one is used for real and the outcome checked at the source."""

from __future__ import annotations

import smtplib
import ssl
import sys
import time
from email.message import EmailMessage

import pytest
import requests

from devstack.mlflow_server import MlflowServer
from devstack.ports import free_port, port_is_open
from devstack.postgres import PostgresServer
from devstack.processes import ManagedProcess, group_members
from devstack.s3 import S3Server
from devstack.smtp import SmtpServer
from tests.support.s3_keys import assert_refused_reads_and_writes

pytestmark = pytest.mark.integration


# ------------------------------------------------------------------------------ helpers


def test_free_port_is_bindable_and_unique():
    ports = {free_port() for _ in range(20)}
    assert len(ports) == 20
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", ports.pop()))


_CHILD_SERVER = """
import http.server, subprocess, sys
subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])  # a grandchild
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])),
                                http.server.SimpleHTTPRequestHandler).serve_forever()
"""


def test_managed_process_start_wait_stop_restart(tmp_path):
    port = free_port()
    proc = ManagedProcess(
        "httpd", [sys.executable, "-c", _CHILD_SERVER, str(port)], cwd=tmp_path, log_dir=tmp_path
    )
    proc.start()
    waited = proc.wait_http(f"http://127.0.0.1:{port}/", timeout=20)
    assert waited < 20
    assert proc.is_running()
    assert len(proc.group_members()) == 2  # the server and its grandchild
    first_pid = proc.pid

    proc.restart()
    proc.wait_http(f"http://127.0.0.1:{port}/", timeout=20)
    assert proc.pid != first_pid
    assert group_members(first_pid) == []

    pid = proc.pid
    proc.stop(timeout=5)
    assert not proc.is_running()
    assert group_members(pid) == []
    assert not port_is_open(port)
    assert proc.log_path.exists() and "start #2" in proc.log_path.read_text()


def test_managed_process_sigkills_what_ignores_sigterm(tmp_path):
    code = (
        "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); "
        "print('ignoring' + ' SIGTERM', flush=True); time.sleep(600)"
    )
    proc = ManagedProcess("stubborn", [sys.executable, "-c", code], log_dir=tmp_path).start()
    deadline = time.monotonic() + 10
    while "ignoring SIGTERM" not in proc.log_tail() and time.monotonic() < deadline:
        time.sleep(0.05)
    started = time.monotonic()
    rc = proc.stop(timeout=1)
    assert rc == -9
    assert time.monotonic() - started < 5
    assert group_members(proc.pid) == []


def test_managed_process_reports_early_exit(tmp_path):
    from devstack import ServerUnavailable

    proc = ManagedProcess(
        "dies", [sys.executable, "-c", "print('boom'); raise SystemExit(3)"], log_dir=tmp_path
    ).start()
    with pytest.raises(ServerUnavailable, match=r"exited \(code 3\)[\s\S]*boom"):
        proc.wait_http(f"http://127.0.0.1:{free_port()}/", timeout=10)
    proc.stop()


def test_live_descendants_sees_a_child_until_it_is_gone():
    import os
    import subprocess

    from devstack.processes import live_descendants

    child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        assert child.pid in live_descendants(os.getpid())
    finally:
        child.kill()
        child.wait()
    assert child.pid not in live_descendants(os.getpid())


# ------------------------------------------------------------------------------ postgres


def test_postgres_table_roundtrip(postgres: PostgresServer):
    import psycopg
    import sqlalchemy as sa

    db = postgres.create_database("roundtrip")
    assert db.sqlalchemy_url.startswith("postgresql+psycopg://")
    assert db.url.startswith("postgresql://")
    assert "roundtrip" in postgres.list_databases()

    engine = sa.create_engine(db.sqlalchemy_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE points (id serial PRIMARY KEY, name text, x float)"))
        conn.execute(
            sa.text("INSERT INTO points (name, x) VALUES (:n, :x)"),
            [{"n": "a", "x": 1.5}, {"n": "b", "x": 2.5}],
        )
    engine.dispose()

    with psycopg.connect(db.url) as conn:
        rows = conn.execute("SELECT name, x FROM points ORDER BY id").fetchall()
        assert rows == [("a", 1.5), ("b", 2.5)]
        assert conn.execute("SHOW fsync").fetchone() == ("off",)

    # Password auth over TCP is real: a wrong password is refused.
    wrong = db.url.replace(f":{postgres.password}@", ":wrong@")
    with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
        psycopg.connect(wrong, connect_timeout=5)
    postgres.drop_database("roundtrip")
    assert "roundtrip" not in postgres.list_databases()


# ------------------------------------------------------------------------------ s3


def test_s3_put_and_list(s3_server: S3Server):
    bucket = s3_server.create_bucket()
    client = s3_server.client()
    client.put_object(Bucket=bucket, Key="data/a.csv", Body=b"x,y\n1,2\n")
    client.put_object(Bucket=bucket, Key="data/sub/b.csv", Body=b"x\n")
    client.put_object(Bucket=bucket, Key="other/c.txt", Body=b"c")

    assert s3_server.list_keys(bucket, "data/") == ["data/a.csv", "data/sub/b.csv"]
    assert len(s3_server.list_keys(bucket)) == 3
    body = client.get_object(Bucket=bucket, Key="data/a.csv")["Body"].read()
    assert body == b"x,y\n1,2\n"
    assert s3_server.env()["MLFLOW_S3_ENDPOINT_URL"] == s3_server.endpoint_url


def test_s3_refuses_a_wrong_secret_and_an_unknown_key(s3_server: S3Server):
    """The S3 server checks SigV4 signatures, as RustFS and AWS do (moto's server did not)."""
    bucket = s3_server.create_bucket()
    s3_server.client().put_object(Bucket=bucket, Key="secret.csv", Body=b"x\n")
    wrong_secret = s3_server.client(secret_access_key="not-the-secret")  # pragma: allowlist secret
    assert_refused_reads_and_writes(wrong_secret, "SignatureDoesNotMatch", bucket, "secret.csv")
    unknown_key = s3_server.client(access_key_id="nobody")
    assert_refused_reads_and_writes(unknown_key, "InvalidAccessKeyId", bucket, "secret.csv")
    assert s3_server.list_keys(bucket) == ["secret.csv"]


# ------------------------------------------------------------------------------ mlflow


@pytest.fixture
def no_client_credentials(monkeypatch):
    """The client side holds no S3 keys: artifacts must go through the server's proxy."""
    for var in (
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
        "AWS_PROFILE",
        "MLFLOW_S3_ENDPOINT_URL",
        "AWS_ENDPOINT_URL",
        "AWS_ENDPOINT_URL_S3",
        "MLFLOW_TRACKING_URI",
        "MLFLOW_TRACKING_USERNAME",
        "MLFLOW_TRACKING_PASSWORD",
    ):
        monkeypatch.delenv(var, raising=False)


def _log_run_with_artifact(tracking_uri: str, tmp_path, experiment: str) -> str:
    from mlflow import MlflowClient

    client = MlflowClient(tracking_uri=tracking_uri)
    experiment_id = client.create_experiment(experiment)
    run = client.create_run(experiment_id, run_name="fixture-selftest")
    run_id = run.info.run_id
    client.log_param(run_id, "alpha", "0.5")
    client.log_metric(run_id, "rmse", 0.125)
    note = tmp_path / "hello.txt"
    note.write_text("artifact through the proxy\n")
    client.log_artifact(run_id, str(note), artifact_path="notes")
    client.set_terminated(run_id)
    assert [a.path for a in client.list_artifacts(run_id, "notes")] == ["notes/hello.txt"]
    return run_id


def test_mlflow_run_lands_in_postgres_and_s3(
    mlflow_server: MlflowServer,
    s3_server: S3Server,
    postgres: PostgresServer,
    no_client_credentials,
    tmp_path,
):
    assert requests.get(mlflow_server.health_url, timeout=5).status_code == 200
    run_id = _log_run_with_artifact(mlflow_server.tracking_uri, tmp_path, "fixture-selftest")

    keys = s3_server.list_keys(mlflow_server.bucket, "mlflow/")
    assert any(k.endswith(f"{run_id}/artifacts/notes/hello.txt") for k in keys), keys

    with postgres.connect(mlflow_server.database) as conn:
        row = conn.execute("SELECT status, name FROM runs WHERE run_uuid = %s", (run_id,)).fetchone()
    assert row == ("FINISHED", "fixture-selftest")
    assert mlflow_server.backend_store_uri.startswith("postgresql+psycopg://")


def test_mlflow_server_survives_kill_and_restart(
    mlflow_server: MlflowServer, no_client_credentials, tmp_path
):
    from mlflow import MlflowClient

    run_id = _log_run_with_artifact(mlflow_server.tracking_uri, tmp_path, "before-crash")
    pids = mlflow_server.process.group_members()
    assert pids, "no server processes"

    mlflow_server.kill()
    assert not mlflow_server.is_running()
    assert all(group_members(p) == [] for p in pids)
    with pytest.raises(requests.ConnectionError):
        requests.get(mlflow_server.health_url, timeout=2)

    seconds = mlflow_server.start()
    print(f"MLflow restart: healthy in {seconds:.1f}s")
    client = MlflowClient(tracking_uri=mlflow_server.tracking_uri)
    assert client.get_run(run_id).data.metrics == {"rmse": 0.125}
    assert [a.path for a in client.list_artifacts(run_id, "notes")] == ["notes/hello.txt"]


def test_mlflow_basic_auth(
    mlflow_auth_server: MlflowServer,
    s3_server: S3Server,
    no_client_credentials,
    monkeypatch,
    tmp_path,
):
    server = mlflow_auth_server
    assert server.auth and server.username and server.password
    search = f"{server.tracking_uri}/api/2.0/mlflow/experiments/search"
    params = {"max_results": 5}
    assert requests.get(search, params=params, timeout=10).status_code == 401
    wrong = requests.get(search, params=params, auth=(server.username, "nope"), timeout=10)
    assert wrong.status_code == 401
    ok = requests.get(search, params=params, auth=(server.username, server.password), timeout=10)
    assert ok.status_code == 200, ok.text

    for key, value in server.client_env().items():
        monkeypatch.setenv(key, value)
    run_id = _log_run_with_artifact(server.tracking_uri, tmp_path, "auth-selftest")
    keys = s3_server.list_keys(server.bucket, "mlflow/")
    assert any(k.endswith(f"{run_id}/artifacts/notes/hello.txt") for k in keys), keys


# ------------------------------------------------------------------------------ smtp


def _mail(to: str, subject: str) -> EmailMessage:
    msg = EmailMessage()
    msg["From"] = "airflow@example.test"
    msg["To"] = to
    msg["Subject"] = subject
    msg.set_content("Task failed: train_model\n")
    return msg


def test_smtp_plain_delivers(smtp_server: SmtpServer):
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.send_message(_mail("ops@example.test", "plain 1"))
    # Airflow-style: a connection with a user and no TLS also works on the plain server.
    with smtplib.SMTP(smtp_server.host, smtp_server.port, timeout=10) as smtp:
        smtp.login("user", "pass")
        smtp.send_message(_mail("ops@example.test", "plain 2"))

    messages = smtp_server.wait_for(2, timeout=10)
    assert [m["Subject"] for m in messages] == ["plain 1", "plain 2"]
    assert messages[0].get_content().strip() == "Task failed: train_model"
    assert smtp_server.deliveries[0].rcpt_tos == ["ops@example.test"]
    assert smtp_server.deliveries[1].login == "user"


def test_smtp_fixture_mailbox_is_emptied_per_test(smtp_server: SmtpServer):
    assert smtp_server.messages == []


def test_smtp_starttls_requires_tls_and_login(smtp_starttls_server: SmtpServer):
    server = smtp_starttls_server
    assert server.starttls and server.cert_path and server.cert_path.exists()

    # Without STARTTLS the server refuses mail.
    with smtplib.SMTP(server.host, server.port, timeout=10) as smtp, pytest.raises(smtplib.SMTPException):
        smtp.send_message(_mail("ops@example.test", "cleartext"))

    # Gmail-style: STARTTLS (unverified self-signed cert), then login.
    unverified = ssl._create_unverified_context()
    with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
        smtp.starttls(context=unverified)
        with pytest.raises(smtplib.SMTPAuthenticationError):
            smtp.login(server.username, "wrong-password")
    with smtplib.SMTP(server.host, server.port, timeout=10) as smtp:
        smtp.starttls(context=unverified)
        smtp.login(server.username, server.password)
        smtp.send_message(_mail("oncall@example.test", "tls 1"))

    # A verifying client that trusts the generated certificate also works.
    with smtplib.SMTP("localhost", server.port, timeout=10) as smtp:
        smtp.starttls(context=server.client_ssl_context())
        smtp.login(server.username, server.password)
        smtp.send_message(_mail("oncall@example.test", "tls 2"))

    messages = server.wait_for(2, timeout=10)
    assert [m["Subject"] for m in messages] == ["tls 1", "tls 2"]
    assert all(d.login == server.username for d in server.deliveries)
