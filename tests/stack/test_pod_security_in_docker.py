"""The images run under the security contexts of deploy/kubernetes, in Docker (no cluster here).

Each workload of deploy/kubernetes/base is run from the image built from this checkout, with its
manifest translated to `docker run` flags: runAsUser/runAsGroup -> --user, readOnlyRootFilesystem
-> --read-only, emptyDir mounts -> --tmpfs, capabilities drop ALL -> --cap-drop ALL,
allowPrivilegeEscalation false -> no-new-privileges (Docker's default seccomp profile is what
RuntimeDefault means on containerd/CRI-O too). The container args and environment are the
manifest's; Secrets get throwaway values, the external services local stand-ins (SQLite for
MLflow's store and the prediction log). On one Docker network, the API and Streamlit reach MLflow
by its Service name, as in the cluster.

Checked: MLflow, the API and Streamlit answer their manifest's probes (the API's /ready says
waiting-for-champion: it reached MLflow with the password from its "Secret"); in each, the
process runs as the manifest's user with no capabilities and no_new_privs, and the root
filesystem refuses writes; bucket-init runs its script to the end under the same restrictions.
What a cluster adds (admission, the kubelet's probes, NetworkPolicies) is not checked.
"""

from __future__ import annotations

import secrets
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from devstack.compose import build_standins, run, start_engine, stop_engine
from tests.deploy.render import render_python, split_image
from tests.support.require import unavailable

ROOT = Path(__file__).resolve().parents[2]
BASE = ROOT / "deploy" / "kubernetes" / "base"
TAG = "podsec"
DOCKERFILES = {"mlstack-mlflow": "Dockerfile.mlflow", "mlstack-streamlit": "Dockerfile.streamlit"}
# As the compose boot's wait: four Python services importing at once on a shared 2-core machine
# took over 10 minutes to answer here (load average 20-36); one alone about 2.5 minutes.
READY_TIMEOUT = 900

pytestmark = [
    pytest.mark.stack,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.xdist_group("stack"),
]


@dataclass
class Running:
    """A started container: its name and the manifest's container spec."""

    name: str
    spec: dict[str, Any]

    def exec(self, *cmd: str) -> Any:
        return run(["docker", "exec", self.name, *cmd], check=False, timeout=60)

    def port(self, container_port: int) -> int:
        out = run(["docker", "port", self.name, f"{container_port}/tcp"]).stdout
        return int(out.strip().splitlines()[0].rsplit(":", 1)[1])


def fake_secrets() -> dict[tuple[str, str], str]:
    """Throwaway values for every Secret key the base references."""
    password = secrets.token_urlsafe(16)
    return {
        ("mlstack", "api-token"): secrets.token_urlsafe(32),
        ("mlstack", "ui-password"): secrets.token_urlsafe(24),
        ("mlstack", "mlflow-admin-password"): password,
        ("mlstack", "mlflow-flask-secret-key"): secrets.token_hex(16),
        ("mlstack", "mlflow-db-url"): "sqlite:////tmp/mlflow.db",
        ("mlstack", "prediction-log-url"): "sqlite:////tmp/predictions.db",
        ("mlstack", "aws-access-key-id"): "test-key-id",
        ("mlstack", "aws-secret-access-key"): secrets.token_hex(16),
        ("mlstack", "serving-s3-access-key-id"): "test-serving-key",
        ("mlstack", "serving-s3-secret-access-key"): secrets.token_hex(16),
    }


def docker_flags(pod: dict[str, Any], container: dict[str, Any]) -> list[str]:
    """The manifest's security context and emptyDir volumes as `docker run` flags."""
    pod_sc, sc = pod["securityContext"], container["securityContext"]
    user = sc.get("runAsUser", pod_sc["runAsUser"])
    group = sc.get("runAsGroup", pod_sc.get("runAsGroup", 0))
    flags = ["--user", f"{user}:{group}"]
    if sc.get("readOnlyRootFilesystem"):
        flags.append("--read-only")
    if sc.get("capabilities", {}).get("drop") == ["ALL"]:
        flags += ["--cap-drop", "ALL"]
    if sc.get("allowPrivilegeEscalation") is False:
        flags += ["--security-opt", "no-new-privileges"]
    volumes = {v["name"]: v for v in pod.get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        assert "emptyDir" in volumes[mount["name"]], mount
        flags += ["--tmpfs", f"{mount['mountPath']}:mode=1777"]
    return flags


def docker_env(
    container: dict[str, Any], config: dict[str, str], values: dict[tuple[str, str], str]
) -> list[str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        assert source["configMapRef"]["name"] == "mlstack-config"
        env.update(config)
    for item in container.get("env", []):
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "configMapKeyRef" in item["valueFrom"]:
            env[item["name"]] = config[item["valueFrom"]["configMapKeyRef"]["key"]]
        else:
            ref = item["valueFrom"]["secretKeyRef"]
            env[item["name"]] = values[(ref["name"], ref["key"])]
    out = []
    for name, value in env.items():
        out += ["-e", f"{name}={value}"]
    return out


@pytest.fixture(scope="module")
def deployed() -> Iterator[dict[str, Running]]:
    we_started, why = start_engine()
    if why:
        unavailable(why)
    build_standins()
    for image, dockerfile in DOCKERFILES.items():
        run(["docker", "build", "-q", "-f", dockerfile, "-t", f"{image}:{TAG}", "."], timeout=3000)
    objects = render_python(BASE)
    config = next(o for o in objects if o["kind"] == "ConfigMap")["data"]
    values = fake_secrets()
    network = f"mlstack-podsec-{uuid.uuid4().hex[:8]}"
    run(["docker", "network", "create", network])
    started: dict[str, Running] = {}
    try:
        for obj in objects:
            if obj["kind"] not in ("Deployment", "Job"):
                continue
            name = obj["metadata"]["name"]
            pod = obj["spec"]["template"]["spec"]
            (container,) = pod["containers"]
            image = f"{split_image(container['image'])[0]}:{TAG}"
            cname = f"{network}-{name}"
            cmd = ["docker", "run", "-d", "--name", cname, "--network", network, "--network-alias", name]
            cmd += docker_flags(pod, container) + docker_env(container, config, values)
            if obj["kind"] == "Job":
                cmd += ["-e", "BUCKET_INIT_TIMEOUT=3", "-e", "MLSTACK_S3_ENDPOINT_URL=http://127.0.0.1:9"]
            for port in container.get("ports", []):
                cmd += ["-p", f"127.0.0.1::{port['containerPort']}"]
            run([*cmd, image, *container["args"]])
            started[name] = Running(cname, container)
        yield started
    finally:
        for running in started.values():
            logs = run(["docker", "logs", "--tail", "30", running.name], check=False)
            print(f"--- {running.name}\n{logs.stdout[-2000:]}{logs.stderr[-2000:]}")
            run(["docker", "rm", "-f", running.name], check=False)
        run(["docker", "network", "rm", network], check=False)
        if we_started:
            stop_engine()


def http_get(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


def wait_probe(running: Running, probe: str, accept: Any) -> tuple[int, str]:
    """Poll the container's probe (path and port from the manifest) through its published port."""
    get = running.spec[probe]["httpGet"]
    ports = {p["name"]: p["containerPort"] for p in running.spec["ports"]}
    url = f"http://127.0.0.1:{running.port(ports[get['port']])}{get['path']}"
    deadline = time.monotonic() + READY_TIMEOUT
    last: tuple[int, str] = (0, "no answer")
    while time.monotonic() < deadline:
        try:
            last = http_get(url)
            if accept(*last):
                return last
        except OSError as exc:
            last = (0, repr(exc))
        time.sleep(2)
    raise AssertionError(f"{running.name} {probe} {url}: {last}")


@pytest.mark.parametrize("name", ["mlflow", "streamlit", "api"])
def test_liveness_probe_answers(deployed: dict[str, Running], name: str) -> None:
    status, body = wait_probe(deployed[name], "livenessProbe", lambda s, b: s == 200)
    assert status == 200
    if name == "mlflow":
        assert body == "OK"
    if name == "streamlit":
        assert body == "ok"


def test_api_readiness_reached_mlflow_and_waits_for_a_champion(deployed: dict[str, Running]) -> None:
    wait_probe(deployed["mlflow"], "readinessProbe", lambda s, b: s == 200)
    status, body = wait_probe(deployed["api"], "readinessProbe", lambda s, b: "waiting-for-champion" in b)
    assert status == 503


@pytest.mark.parametrize("name", ["mlflow", "streamlit", "api"])
def test_process_runs_with_the_manifest_restrictions(deployed: dict[str, Running], name: str) -> None:
    running = deployed[name]
    wait_probe(running, "livenessProbe", lambda s, b: s == 200)
    user = running.exec("id", "-u").stdout.strip()
    assert user == str(running.spec["securityContext"]["runAsUser"])
    status = running.exec("cat", "/proc/1/status").stdout
    fields = dict(line.split(":\t", 1) for line in status.splitlines() if ":\t" in line)
    assert fields["CapEff"].strip() == "0000000000000000"
    assert fields["NoNewPrivs"].strip() == "1"
    assert fields["Seccomp"].strip() == "2"  # filter mode: the runtime's default profile
    refused = running.exec("touch", "/opt/written-at-run-time")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert running.exec("touch", "/tmp/written-at-run-time").returncode == 0


def test_bucket_init_runs_its_script_to_the_end(deployed: dict[str, Running]) -> None:
    name = deployed["bucket-init"].name
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        state = run(["docker", "inspect", "-f", "{{.State.Status}} {{.State.ExitCode}}", name]).stdout.split()
        if state[0] == "exited":
            break
        time.sleep(2)
    logs = run(["docker", "logs", name], check=False)
    # No S3 here: the script ran (imports, client, retries) and reports the store as not ready.
    assert state == ["exited", "1"], logs.stderr
    assert "bucket-init: s3://mlstack not ready" in logs.stderr
    assert "Read-only file system" not in logs.stderr + logs.stdout
