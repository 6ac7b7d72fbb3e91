"""`mlstack serve` as a real process: it starts on a free port, turns ready once the champion is
loaded, predicts over HTTP with a bearer token, and stops on SIGTERM. In production mode it
refuses to start without a token."""

from __future__ import annotations

import os
import subprocess

import pytest
import requests

from devstack.ports import free_port
from devstack.processes import ManagedProcess, venv_tool
from mlstack import lifecycle
from mlstack.config import Settings
from tests.support.rows import GOOD_ROW

pytestmark = pytest.mark.integration

TOKEN = "integration-token-0123456789abcdefghijkl"  # pragma: allowlist secret
ROW = GOOD_ROW
CLEAN_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLSTACK_ENV", "MLSTACK_API_TOKEN")


@pytest.fixture(scope="module")
def home(tmp_path_factory):
    """An embedded home with a champion."""
    home = tmp_path_factory.mktemp("api-serve") / "home"
    ctx = lifecycle.context(Settings(_env_file=None, home=home, tracking_uri=None), "penguins")
    summary = lifecycle.run_all(ctx)
    return home, summary


def test_serve_predicts_over_http_and_stops(home, tmp_path):
    home_dir, summary = home
    port = free_port()
    proc = ManagedProcess(
        "mlstack-serve",
        [venv_tool("mlstack"), "serve", "--port", str(port)],
        env={"MLSTACK_HOME": str(home_dir), "MLSTACK_API_TOKEN": TOKEN},
        unset_env=CLEAN_ENV,
        cwd=tmp_path,  # no .env/.secrets of the checkout
        log_dir=tmp_path,
    )
    base = f"http://127.0.0.1:{port}"
    proc.start()
    try:
        proc.wait_http(f"{base}/ready", timeout=90)
        auth = {"Authorization": f"Bearer {TOKEN}"}
        response = requests.post(f"{base}/v1/predict", json={"rows": [ROW]}, headers=auth, timeout=10)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["version"] == summary["champion"]
        assert body["predictions"][0]["prediction"] == "Gentoo"
        assert requests.post(f"{base}/v1/predict", json={"rows": [ROW]}, timeout=10).status_code == 401
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        assert 'mlstack_api_requests_total{method="POST",route="/v1/predict",status="200"} 1.0' in metrics
    finally:
        proc.stop(timeout=15)
    assert not proc.is_running()
    assert "mlstack API on http://127.0.0.1" in proc.log_path.read_text()


def test_serve_refuses_production_mode_without_a_token(home, tmp_path):
    home_dir, _ = home
    env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV}
    env.update({"MLSTACK_HOME": str(home_dir), "MLSTACK_ENV": "production"})
    result = subprocess.run(
        [venv_tool("mlstack"), "serve", "--port", str(free_port())],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2, result.stdout + result.stderr
    assert "MLSTACK_API_TOKEN" in " ".join(result.stderr.split())
