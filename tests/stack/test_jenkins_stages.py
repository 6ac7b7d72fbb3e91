"""The Jenkinsfile's `sh` steps, in order, in the agent image, on a clean clone (issue 20).

No Jenkins controller can run here (jenkins.war and the plugins are out of reach), so this test
does what the build agent does for a build, with everything but the controller real:

1. ``Dockerfile.jenkins-agent`` is built unmodified on the stand-in for
   ``jenkins/inbound-agent`` (devstack/offline-images/inbound-agent: the upstream user, uid 1000,
   its Debian packages and directories; no JDK and no agent.jar, and Debian bookworm, whose
   python3 is 3.11, where upstream is trixie and uv installs 3.11).
2. A container of it gets the ``jenkins-agent`` compose service's environment and mounts, read from
   ``docker compose config``: the repository read-only at /workspace/mlstack (a clone owned by
   another user, as on the host), the agent work directory, the uv cache volume, the secret volume.
   It runs with host networking, to reach the live Airflow bound to 127.0.0.1; so
   ``MLSTACK_AIRFLOW_URL`` is the one value changed (no ``airflow-apiserver`` host exists here).
3. The job's checkout: ``git clone file:///workspace/mlstack`` inside the container, as the agent
   user, into the agent's workspace: a clean clone of the committed tree.
4. Every ``sh`` step of the Jenkinsfile, parsed from it, runs in order with ``sh -xe`` in that
   workspace with the Jenkinsfile's ``environment`` block, and the exit codes the pipeline relies
   on are checked: 0 for each step on a good tree; for the drift stage, the check's own code in
   reports/drift/exit-code, 0 on a fresh batch and 3 (the build's UNSTABLE) on a drifted batch
   given as ``DRIFT_CURRENT``; Retrain (``make trigger-api``) reaches a live Airflow with the
   variables ``withCredentials`` binds, succeeds with the right password and fails with a wrong one.

Cost: the "Unit and DAG tests" stage runs its two ``make`` steps verbatim with a declared subset
(``PYTEST_ADDOPTS=-k ...``, which pytest reads itself): the suites themselves run in CI directly,
so they are not run a second time in the container. The uv cache is a named volume of the engine
(like the compose service's), so only the first run downloads the locked packages.

Read against upstream only: the controller, remoting and the agent's connection, withCredentials
itself (masking), junit, publishHTML and mail steps.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import subprocess
import time
import uuid
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from devstack.compose import build_standins, docker_env, run, start_engine
from tests.integration.test_airflow_services import live  # noqa: F401  (the live Airflow fixture)
from tests.static.test_compose import resolved
from tests.static.test_jenkins import STAGES, block, jenkinsfile, sh_commands, stage
from tests.support.require import unavailable

ROOT = Path(__file__).resolve().parents[2]
IMAGE = "mlstack-jenkins-agent:stage-runner"
# The compose service's uv cache volume, kept by the engine between runs (as the service's is).
UV_CACHE_VOLUME = "mlstack-stage-runner-uv-cache"
WORKSPACE = "/home/jenkins/agent/workspace/mlstack"
# The declared subset of the test stage: the config test that broke when builds inherited the
# controller's environment (issue 20, item 1), and the DAG folder's integrity.
PYTEST_SUBSET = (
    "test_env_and_secrets_files_are_read_with_env_winning"
    " or test_dag_folder_imports_without_errors or test_tasks_and_dependencies"
)
DRIFT_ARGS = (
    "--drift bill_length_mm:shift=2 --drift flipper_length_mm:shift=-1.5 --drift body_mass_g:scale=1.8"
    " --drift island:mix=Biscoe:0.1,Dream:0.1,Torgersen:0.8"
)
TIMINGS = ROOT / "test-results" / "jenkins-stages-timings.json"

pytestmark = [
    pytest.mark.jenkins_stages,
    pytest.mark.stack,
    pytest.mark.integration,
    pytest.mark.slow,
    pytest.mark.timeout(3600),
    pytest.mark.xdist_group("stack"),
]


def pipeline_steps() -> list[tuple[str, str]]:
    """(stage, command) of every `sh` step, in the Jenkinsfile's order."""
    src = jenkinsfile()
    steps = [(name, command) for name in STAGES for command in sh_commands(stage(src, name))]
    assert [c for _, c in steps] == sh_commands(src), "a sh step outside the known stages"
    return steps


def pipeline_environment() -> dict[str, str]:
    """The Jenkinsfile's top-level `environment { NAME = 'value' }` block."""
    env = block(block(jenkinsfile(), r"(?m)^pipeline"), r"\benvironment")
    return dict(re.findall(r"\b([A-Z_][A-Z0-9_]*)\s*=\s*'([^']*)'", env))


class Agent:
    """A running container of the agent image; `sh` runs a step as Jenkins' `sh` does."""

    def __init__(self, name: str, work: Path) -> None:
        self.name, self.work, self.timings = name, work, {}

    def sh(self, command: str, *, env: dict[str, str] | None = None, label: str = "", timeout: float = 1800):
        args = ["docker", "exec", "-w", WORKSPACE]
        for key, value in {**pipeline_environment(), **(env or {})}.items():
            args += ["-e", f"{key}={value}"]
        t0 = time.monotonic()
        proc = subprocess.run(
            [*args, self.name, "sh", "-xe", "-c", command],
            env=docker_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
        )
        self.timings[label or command] = round(time.monotonic() - t0, 1)
        return proc

    def file(self, relative: str) -> Path:
        return self.work / "workspace" / "mlstack" / relative


def _mounts(agent_service: dict, sources: dict[str, str]) -> list[str]:
    """`-v` arguments for each of the service's volumes; every one must be accounted for."""
    args = []
    for volume in agent_service["volumes"]:
        key = volume["source"] if volume["type"] == "volume" else "bind:" + volume["source"]
        key = "bind:." if key == f"bind:{ROOT}" else key
        assert key in sources, f"the jenkins-agent service mounts {volume}: give the test a source for it"
        suffix = ":ro" if volume.get("read_only") else ""
        args += ["-v", f"{sources[key]}:{volume['target']}{suffix}"]
    return args


@pytest.fixture(scope="module")
def agent(tmp_path_factory: pytest.TempPathFactory):
    timings: dict[str, float] = {}
    _, why = start_engine()
    if why:
        unavailable(why)
    t0 = time.monotonic()
    build_standins()
    timings["standins"] = round(time.monotonic() - t0, 1)
    t0 = time.monotonic()
    run(["docker", "build", "-q", "-f", "Dockerfile.jenkins-agent", "-t", IMAGE, "."], timeout=3000)
    timings["agent image"] = round(time.monotonic() - t0, 1)

    base = tmp_path_factory.mktemp("jenkins-agent")
    base.chmod(0o755)
    origin = base / "origin"  # the repository the job checks out: committed state, owned by root
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(origin)], check=True, timeout=300)
    work, secret_dir = base / "agent", base / "agent-secret"
    work.mkdir()
    secret_dir.mkdir()
    (secret_dir / "secret").write_text("not-used-no-controller-here\n")  # pragma: allowlist secret
    os.chown(work, 1000, 1000)

    service = resolved()["services"]["jenkins-agent"]
    sources = {
        "bind:.": str(origin),
        "jenkins-agent-work": str(work),
        "jenkins-agent-cache": UV_CACHE_VOLUME,
        "jenkins-agent-secret": str(secret_dir),
    }
    env_args = [a for k, v in service["environment"].items() for a in ("-e", f"{k}={v}")]
    name = f"mlstack-stage-runner-{uuid.uuid4().hex[:8]}"
    run(
        [
            "docker", "run", "-d", "--name", name, "--network", "host", "--entrypoint", "sleep",
            *env_args, *_mounts(service, sources), IMAGE, "infinity",
        ]
    )  # fmt: skip
    box = Agent(name, work)
    box.timings.update(timings)
    try:
        checkout = subprocess.run(
            ["docker", "exec", name, "git", "clone", "--quiet", "file:///workspace/mlstack", WORKSPACE],
            env=docker_env(),
            capture_output=True,
            text=True,
            timeout=300,
        )
        assert checkout.returncode == 0, checkout.stderr
        yield box
    finally:
        run(["docker", "rm", "-f", "-v", name], check=False, timeout=120)
        TIMINGS.parent.mkdir(exist_ok=True)
        TIMINGS.write_text(json.dumps(box.timings, indent=2) + "\n")
        print(f"\njenkins stage timings (s): {box.timings}")


def _junit(path: Path) -> dict[str, int]:
    suite = ET.parse(path).getroot()
    suite = suite if suite.tag == "testsuite" else suite.find("testsuite")
    assert suite is not None, path
    return {k: int(suite.get(k, 0)) for k in ("tests", "failures", "errors", "skipped")}


def test_the_build_environment_holds_no_secret(agent):
    proc = agent.sh("env", label="env")
    names = [ln.split("=", 1)[0] for ln in proc.stdout.splitlines() if "=" in ln]
    assert proc.returncode == 0 and "JENKINS_AGENT_NAME" in names
    leaked = [n for n in names if re.search(r"PASSWORD|TOKEN|SECRET|API_?KEY", n)]
    assert not leaked, f"a build on the agent inherits {leaked}"
    user = agent.sh("id -u && id -un", label="id")
    assert user.stdout.split() == ["1000", "jenkins"], user.stdout


def test_stages_setup_to_drift_check_give_the_exit_codes_the_pipeline_relies_on(agent):
    steps = [(s, c) for s, c in pipeline_steps() if s != "Retrain"]
    for stage_name, command in steps:
        env = {"PYTEST_ADDOPTS": f"-k '{PYTEST_SUBSET}'"} if stage_name == "Unit and DAG tests" else {}
        proc = agent.sh(command, env=env, label=f"{stage_name}: {command}")
        assert proc.returncode == 0, (
            f"{command}: exit {proc.returncode}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
        )
        if stage_name == "Drift check":
            # A good tree: a fresh no-drift batch; the Jenkinsfile reads this file for its verdict.
            assert agent.file("reports/drift/exit-code").read_text().strip() == "0"
            assert agent.file("reports/drift/latest.html").is_file()

    # The test stage ran the declared subset, in both suites, with nothing failed or skipped.
    for report in ("unit", "dags"):
        counts = _junit(agent.file(f"reports/junit/{report}.xml"))
        assert counts["tests"] >= 1 and counts["failures"] == counts["errors"] == counts["skipped"] == 0, (
            counts
        )

    # A drifted batch (DRIFT_CURRENT): make fails (2), the check's own code is 3 -> UNSTABLE.
    batch = f"{WORKSPACE}/.mlstack/data/incoming/drifted.csv"
    made = agent.sh(
        f"mkdir -p .mlstack/data/incoming && .venv/bin/mlstack generate --rows 400 --seed 11 {DRIFT_ARGS} --out {batch}",
        label="generate a drifted batch",
    )
    assert made.returncode == 0, made.stderr[-3000:]
    [drift_step] = [c for s, c in pipeline_steps() if s == "Drift check"]
    drifted = agent.sh(drift_step, env={"DRIFT_CURRENT": batch}, label="Drift check (drifted batch)")
    assert drifted.returncode == 2, drifted.stderr[-3000:]
    assert agent.file("reports/drift/exit-code").read_text().strip() == "3"


def test_retrain_reaches_a_live_airflow_with_the_bound_credential(agent, live):  # noqa: F811
    """The Retrain step with what `withCredentials` binds (MLSTACK_AIRFLOW_ADMIN_USER/_PASSWORD)."""
    [retrain] = [c for s, c in pipeline_steps() if s == "Retrain"]
    url = live["env"]["MLSTACK_AIRFLOW_URL"]  # http://127.0.0.1:<port>: host networking
    bound = {"MLSTACK_AIRFLOW_URL": url, "MLSTACK_AIRFLOW_ADMIN_USER": "admin"}

    wrong = agent.sh(
        retrain,
        env={**bound, "MLSTACK_AIRFLOW_ADMIN_PASSWORD": secrets.token_urlsafe(8)},
        label="Retrain (wrong password)",
    )
    assert wrong.returncode != 0
    assert re.search(r"401|login|auth", wrong.stdout + wrong.stderr, re.I), wrong.stderr[-2000:]

    right = agent.sh(
        retrain,
        env={**bound, "MLSTACK_AIRFLOW_ADMIN_PASSWORD": live["env"]["MLSTACK_AIRFLOW_ADMIN_PASSWORD"]},
        label="Retrain",
    )
    assert right.returncode == 0, f"{right.stdout[-3000:]}\n{right.stderr[-3000:]}"
    printed = re.search(r"^\{.*", right.stdout, re.M | re.S)  # after make's echo of the command
    assert printed, right.stdout[-2000:]
    run_info = json.loads(printed.group(0))
    assert run_info["state"] == "success", run_info
