"""Flower's basic auth as the compose file configures it (issue 15 §3), on a real Flower.

The `flower` service's environment is resolved by the real Compose CLI from the example env
files, and its password is a compose secret file of our own, turned into Flower's setting by the
entrypoint's own code (docker/common/mlstack_env.py); `airflow celery flower` then runs with that
environment on a free loopback port. Flower's web server starts without a reachable broker (the broker URL points
at a closed port), which is all this test needs: its login, not its task views.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
from pathlib import Path

import pytest
import requests

from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess, venv_tool

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[2]
PASSWORD = "flower-test-password-4k9z"  # pragma: allowlist secret


def flower_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """Flower's environment in its container: what compose resolves, plus what the entrypoint
    makes of the secret files it mounts (here a folder holding our password)."""
    compose = venv_tool("docker-compose")
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env["MLSTACK_SECRETS_DIR"] = str(tmp_path / "secret-files")
    proc = subprocess.run(
        [compose, "--project-directory", str(ROOT), "-f", str(ROOT / "docker-compose.yml"),
         "--env-file", str(ROOT / ".env.example"), "--env-file", str(ROOT / ".secrets.example"),
         "--profile", "celery", "config", "--format", "json"],
        env=env, capture_output=True, text=True, timeout=60, cwd=ROOT,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    service = json.loads(proc.stdout)["services"]["flower"]
    assert {"source": "MLSTACK_FLOWER_PASSWORD", "target": "/run/secrets/MLSTACK_FLOWER_PASSWORD"} in service[
        "secrets"
    ]
    mounted = tmp_path / "run-secrets"
    mounted.mkdir()
    (mounted / "MLSTACK_FLOWER_PASSWORD").write_text(PASSWORD + "\n")
    spec = importlib.util.spec_from_file_location("mlstack_env", ROOT / "docker/common/mlstack_env.py")
    assert spec and spec.loader
    entrypoint = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(entrypoint)
    for name in ("AIRFLOW__CELERY__FLOWER_BASIC_AUTH", "MLSTACK_FLOWER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    for name, value in service["environment"].items():
        monkeypatch.setenv(name, value or "")
    return {**service["environment"], **entrypoint.from_secrets(mounted)}


def test_flower_refuses_a_wrong_password_and_accepts_the_one_from_secrets(tmp_path, monkeypatch):
    service = flower_environment(tmp_path, monkeypatch)
    basic = service["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"]
    assert basic == f"admin:{PASSWORD}" and "flower" in service["MLSTACK_STARTUP_CHECK"].split()
    port = free_port()
    env = {
        "AIRFLOW_HOME": str(tmp_path),
        "AIRFLOW__CORE__EXECUTOR": "CeleryExecutor",
        "AIRFLOW__CELERY__BROKER_URL": f"redis://{LOOPBACK}:{free_port()}/0",  # nothing listens
        "AIRFLOW__CELERY__FLOWER_BASIC_AUTH": basic,
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{tmp_path / 'airflow.db'}",
    }
    process = ManagedProcess(
        "flower",
        [venv_tool("airflow"), "celery", "flower", "--hostname", LOOPBACK, "--port", str(port)],
        env=env,
        cwd=tmp_path,
        log_dir=tmp_path / "log",
    )
    process.start()
    try:
        base = f"http://{LOOPBACK}:{port}"
        process.wait_http(f"{base}/healthcheck", timeout=180)
        assert (
            requests.get(f"{base}/healthcheck", timeout=10).status_code == 200
        )  # open, as compose's check needs
        assert requests.get(f"{base}/", timeout=10).status_code == 401
        assert requests.get(f"{base}/", auth=("admin", "not-the-password"), timeout=10).status_code == 401
        assert requests.get(f"{base}/api/workers", auth=("admin", "x"), timeout=10).status_code == 401
        assert requests.get(f"{base}/", auth=("admin", PASSWORD), timeout=10).status_code == 200
    finally:
        process.stop()
    assert not process.is_running()
