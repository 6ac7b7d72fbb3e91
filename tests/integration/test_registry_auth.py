"""Host-side clients against the stack: a refused MLflow login and an S3 name the host cannot resolve.

Both used to be reported as (or hang like) an unreachable registry.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mlstack import tracking
from mlstack.config import Settings
from mlstack.errors import ConfigError, RegistryAuthError
from mlstack.server_access import check_s3_endpoint, registry_problem
from mlstack.serving.loader import registry_reachable, resolve_alias

pytestmark = pytest.mark.integration


@pytest.fixture
def no_login(monkeypatch):
    for name in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(name, raising=False)


def test_resolve_alias_without_login_says_authentication_failed(mlflow_auth_server, tmp_path, no_login):
    settings = Settings(_env_file=None, home=tmp_path, tracking_uri=mlflow_auth_server.tracking_uri)
    with pytest.raises(RegistryAuthError) as caught:
        resolve_alias(settings, "penguins-classifier")
    text = str(caught.value)
    assert "authentication failed" in text and "unreachable" not in text
    assert "MLFLOW_TRACKING_USERNAME" in text and "MLFLOW_TRACKING_PASSWORD" in text


def test_registry_problem_names_the_login_and_accepts_a_good_one(
    mlflow_auth_server, tmp_path, no_login, monkeypatch
):
    settings = Settings(_env_file=None, home=tmp_path, tracking_uri=mlflow_auth_server.tracking_uri)
    problem = registry_problem(settings)
    assert (
        problem is not None and "authentication failed" in problem and "MLFLOW_TRACKING_USERNAME" in problem
    )
    assert not registry_reachable(settings)
    monkeypatch.setenv("MLFLOW_TRACKING_USERNAME", mlflow_auth_server.username)
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", "wrong-password")
    assert "a login was given" in (registry_problem(settings) or "")
    monkeypatch.setenv("MLFLOW_TRACKING_PASSWORD", mlflow_auth_server.password)
    assert registry_problem(settings) is None


def test_cli_without_login_reports_authentication_not_a_traceback(mlflow_auth_server, tmp_path):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "MLFLOW_", "AWS_"))}
    env.update(MLFLOW_TRACKING_URI=mlflow_auth_server.tracking_uri, MLSTACK_HOME=str(tmp_path / "home"))
    done = subprocess.run(
        [str(Path(sys.executable).parent / "mlstack"), "models"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2, done.stdout + done.stderr
    assert "authentication failed" in done.stderr and "MLFLOW_TRACKING_USERNAME" in done.stderr
    assert "Traceback" not in done.stderr


def test_s3_endpoint_named_for_the_compose_network_is_refused_at_once(tmp_path, no_login):
    settings = Settings(
        _env_file=None,
        home=tmp_path,
        tracking_uri="http://127.0.0.1:1",
        s3_endpoint_url="http://rustfs.invalid:9000",
    )
    started = time.monotonic()
    with pytest.raises(ConfigError) as caught:
        check_s3_endpoint(settings)
    assert time.monotonic() - started < 5
    text = str(caught.value)
    assert "rustfs.invalid" in text and "does not resolve" in text
    assert "MLSTACK_S3_ENDPOINT_URL=http://127.0.0.1:9000" in text
    with pytest.raises(ConfigError, match="does not resolve"):
        tracking.configure(settings)  # every MLflow client of mlstack is built here
    # the same endpoint on 127.0.0.1 passes
    check_s3_endpoint(settings.model_copy(update={"s3_endpoint_url": "http://127.0.0.1:9000"}))
