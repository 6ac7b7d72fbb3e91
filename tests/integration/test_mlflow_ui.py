"""`make mlflow-ui`: MLflow's UI on this machine for the store the CLI uses (README, native path)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import requests

from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess

pytestmark = [pytest.mark.integration]

ROOT = Path(__file__).resolve().parents[2]


def test_make_mlflow_ui_serves_the_embedded_store(tmp_path):
    home = tmp_path / "home"
    port = free_port()
    inherited = [v for v in os.environ if v.startswith(("MLSTACK_", "MLFLOW_", "MAKE", "MFLAGS"))]
    process = ManagedProcess(
        "mlflow-ui",
        ["make", "-C", str(ROOT), "--no-print-directory", "mlflow-ui", f"MLFLOW_UI_PORT={port}"],
        env={"MLSTACK_HOME": str(home)},
        log_dir=tmp_path / "log",
        unset_env=inherited,
    )
    process.start()
    try:
        process.wait_http(f"http://{LOOPBACK}:{port}/health", timeout=120)
        page = requests.get(f"http://{LOOPBACK}:{port}/", timeout=10)
        assert page.status_code == 200 and "MLflow" in page.text
        said = process.log_path.read_text()
        assert f"MLflow UI on http://127.0.0.1:{port} for sqlite:///{home}/mlflow.db" in said
        assert (home / "mlflow.db").exists()  # the CLI's store, not one of MLflow's defaults
    finally:
        process.stop()
    assert not process.is_running()
