"""B9: the compose stack, ``docker compose up -d --wait`` until every service is healthy.

The same path as ``make up`` and ``tests/stack/test_stack_boot.py`` (both use ``devstack.compose``:
``.env`` from ``.env.example`` with free ports and ``.secrets`` with random values in a temporary
folder, a project of its own, the real ``docker-compose.yml``):

1. ``devstack/docker-engine/install-compose.sh`` and ``dockerd.sh start`` (a private dockerd;
   stopped again at the end when we started it), ``devstack/offline-images/build-standins.sh`` (no
   registry: locally built base images under the upstream names).
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
from pathlib import Path

from benchmarks import Figure, at_most, median, unavailable
from devstack.compose import ComposeProject, build_standins, start_engine, stop_engine, write_env

B9_LIMIT_S = 120.0
WAIT_TIMEOUT_S = 900
TITLE = "compose stack `up --wait` to healthy (images built)"


def log(message: str) -> None:
    print(f"[bench stack] {message}", file=sys.stderr, flush=True)


def timed_up(stack: ComposeProject, *, services: Sequence[str] = ()) -> float:
    """Seconds for ``up --detach --wait`` (raises with diagnostics when it fails)."""
    started = time.perf_counter()
    up = stack.compose(
        "up", "--detach", "--wait", "--wait-timeout", str(WAIT_TIMEOUT_S), *services, check=False
    )
    seconds = time.perf_counter() - started
    if up.returncode != 0:
        raise RuntimeError(f"docker compose up --wait failed:\n{up.stderr[-3000:]}\n{stack.diagnostics()}")
    return seconds


def bench_b9(*, quick: bool = True, repeats: int = 3, compose_file: Path | None = None) -> list[Figure]:
    """B9 on the real docker-compose.yml (``compose_file`` lets the smoke test boot a tiny one)."""
    limits = [at_most(B9_LIMIT_S, "s")]
    we_started, why = start_engine()
    if why:
        return [unavailable("B9", TITLE, why, limits)]
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-stack-"))
    project = f"mlstack-bench-{os.getpid()}"
    stack = None
    try:
        t0 = time.perf_counter()
        build_standins()
        standins_s = time.perf_counter() - t0
        env = write_env(workdir, project)
        stack = ComposeProject(project, workdir, env, compose_file=compose_file)
        t0 = time.perf_counter()
        stack.compose("build", timeout=3000)
        build_s = time.perf_counter() - t0
        log(f"stand-ins {standins_s:.0f}s, build {build_s:.0f}s")

        first = timed_up(stack)
        log(f"first boot (fresh volumes): {first:.1f}s")
        warm = []
        for i in range(max(1, min(repeats, 2) if quick else repeats)):
            stack.compose("stop", timeout=600)
            warm.append(timed_up(stack))
            log(f"restart {i + 1}: {warm[-1]:.1f}s")
    except (RuntimeError, AssertionError, subprocess.TimeoutExpired) as exc:
        return [unavailable("B9", TITLE, f"the stack did not come up: {str(exc)[:600]}", limits)]
    finally:
        if stack is not None:
            stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=600)
        if we_started:
            stop_engine()
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
