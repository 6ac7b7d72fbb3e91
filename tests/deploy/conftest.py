"""Fixtures of the deploy/ checks: rendered manifests, the measured sizing, checkov's report.

No cluster runs here: everything below is offline validation of files (schemas, policies,
cross-references with the code and with measured figures).
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.deploy.render import render

REPO = Path(__file__).resolve().parents[2]
DEPLOY = REPO / "deploy"
BASE = DEPLOY / "kubernetes" / "base"
OVERLAY = DEPLOY / "kubernetes" / "overlays" / "cluster"
VALUES = DEPLOY / "helm" / "values-airflow.yaml"
FIXTURES = Path(__file__).resolve().parent / "fixtures"
CHECKOV = REPO / ".tools" / "checkov" / "bin" / "checkov"
# What checkov scans besides the rendered manifests.
CANARY_NAME = "canary-privileged-pod.yaml"
CHECKOV_FILES = [
    "Dockerfile",
    "Dockerfile.mlflow",
    "Dockerfile.streamlit",
    "Dockerfile.jenkins",
    "docker-compose.yml",
]


@pytest.fixture(scope="session")
def base_objects() -> tuple[list[dict[str, Any]], str]:
    """deploy/kubernetes/base rendered (objects, renderer)."""
    return render(BASE)


@pytest.fixture(scope="session")
def overlay_objects() -> tuple[list[dict[str, Any]], str]:
    """deploy/kubernetes/overlays/cluster rendered (objects, renderer)."""
    return render(OVERLAY)


@pytest.fixture(scope="session")
def values() -> dict[str, Any]:
    """deploy/helm/values-airflow.yaml."""
    return yaml.safe_load(VALUES.read_text())


@pytest.fixture(scope="session")
def sizing() -> dict[str, Any]:
    """deploy/sizing.json: the measured figures the requests and limits are taken from."""
    return json.loads((DEPLOY / "sizing.json").read_text())


@pytest.fixture(scope="session")
def checkov_report(
    overlay_objects: tuple[list[dict[str, Any]], str], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """checkov once per session over the rendered overlay, the Dockerfiles and the compose file.

    Frameworks: kubernetes, dockerfile and secrets (checkov has no Compose framework: over
    docker-compose.yml only its secrets scan applies). The skip list is the repository's
    .checkov.yaml. Returns {"results": [...], "seconds": float}.
    """
    if not CHECKOV.exists():
        from tests.support.require import unavailable

        unavailable(f"{CHECKOV} is missing: run `make deploy-tools`")
    folder = tmp_path_factory.mktemp("rendered")
    manifest = folder / "mlstack.yaml"
    manifest.write_text(yaml.safe_dump_all(overlay_objects[0], sort_keys=False))
    args = [str(CHECKOV), "--config-file", str(REPO / ".checkov.yaml"), "--quiet", "--compact"]
    args += ["--framework", "kubernetes", "dockerfile", "secrets", "--skip-download", "-o", "json"]
    # A canary scanned in the same run (checkov is slow to start): it must be reported.
    canary = folder / CANARY_NAME
    pod = {"name": "c", "image": "canary:1", "securityContext": {"privileged": True}}
    canary.write_text(
        yaml.safe_dump(
            {
                "apiVersion": "v1",
                "kind": "Pod",
                "metadata": {"name": "canary", "namespace": "mlstack"},
                "spec": {"containers": [pod]},
            }
        )
    )
    args += ["-f", str(manifest), "-f", str(canary)]
    for name in CHECKOV_FILES:
        args += ["-f", str(REPO / name)]
    env = {**os.environ, "BC_SKIP_MAPPING": "TRUE", "CHECKOV_RUN_SCA_PACKAGE_SCAN_V2": "false"}
    started = time.monotonic()
    done = subprocess.run(args, capture_output=True, text=True, cwd=REPO, env=env, timeout=600, check=False)
    seconds = time.monotonic() - started
    if done.returncode not in (0, 1):
        raise AssertionError(f"checkov failed to run (exit {done.returncode}):\n{done.stderr[-3000:]}")
    report = json.loads(done.stdout)
    results = report if isinstance(report, list) else [report]
    return {"results": results, "seconds": seconds, "manifest": str(manifest)}
