"""B13: the training DAG in the compose stack, beside the same DAG on the native services (B1).

What a user does: ``make up``, then ``make trigger`` (``scripts/stack/trigger.sh``: ``mlstack
airflow trigger`` inside the scheduler container, which waits until the DAG is parsed, triggers
through the REST API and polls the run). Measured in one run of this function:

1. **Native first** (``benchmarks.airflow_compare.compare``, the B1 path): the live Airflow services
   and an MLflow server on this host, ``repeats`` DAG runs after one warm-up. Run before the stack
   boots, so the stack's idle services do not load it.
2. **The stack**: a project of its own on fresh volumes (``devstack.compose``, as B9 and the stack
   test), ``up -d --build --wait``, then the trigger script as ``make trigger`` runs it, once right
   after ``up`` (the first trigger: DAG parse, first run of the store), then ``repeats`` warm times.

Each trigger prints the run's timings as JSON (trigger to finish, queued to started, each task's
start, end and duration); the rows split the run by task against the native medians. "Overhead"
is the wall time of the script minus the run's own trigger-to-finish: ``docker compose exec``, the
CLI's start inside the container, the parse wait and the polling.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import ROOT, Figure, at_most, median, ratio_at_most, unavailable
from devstack.compose import (
    DOCKER_HOST,
    ComposeProject,
    build_standins,
    start_engine,
    stop_engine,
    write_env,
)

WARM_LIMIT_S = 10.0
WARM_RATIO = 2.0
FIRST_LIMIT_S = 20.0
OVERHEAD_LIMIT_S = 3.0
TRIGGER = ROOT / "scripts" / "stack" / "trigger.sh"
DAG_ID = "training_pipeline"
TITLE = "training DAG in the compose stack beside the native services"


def log(message: str) -> None:
    print(f"[bench stack-dag] {message}", file=sys.stderr, flush=True)


def run_printed(stdout: str) -> dict[str, Any]:
    """The run summary ``mlstack airflow trigger --wait`` prints: the JSON object in its output."""
    start, end = stdout.find("{"), stdout.rfind("}")
    if start < 0 or end < start:
        raise RuntimeError(f"no run summary in the trigger's output:\n{stdout[-2000:]}")
    return json.loads(stdout[start : end + 1])


def make_trigger(stack: ComposeProject, *, timeout_s: int = 900) -> dict[str, Any]:
    """``make trigger`` for ``stack``: the script with the project's compose command; wall + summary."""
    env = {
        **os.environ,
        "DOCKER_HOST": DOCKER_HOST,  # the private engine, as ComposeProject.compose talks to
        "COMPOSE": " ".join(stack.command()),
        "MLSTACK_TRIGGER_TIMEOUT": str(timeout_s),
        "CONF": "{}",
    }
    started = time.perf_counter()
    done = subprocess.run(
        [str(TRIGGER), DAG_ID], env=env, capture_output=True, text=True, timeout=timeout_s + 120
    )
    wall = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(
            f"make trigger failed ({done.returncode}):\n{done.stdout[-2000:]}\n{done.stderr[-2000:]}"
        )
    summary = run_printed(done.stdout)
    if summary.get("state") != "success":
        raise RuntimeError(f"the run ended {summary.get('state')}: {summary.get('failures')}")
    return {"wall_s": wall, **summary}


def native_b1(repeats: int) -> dict[str, Any]:
    """The B1 path on this host (``compare``); its first run is a warm-up, left out of the medians."""
    from benchmarks.airflow_compare import compare

    root = Path(tempfile.mkdtemp(prefix="mlstack-bench-b13-native-"))
    try:
        return compare(repeats, workdir=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)


def boot_and_trigger(repeats: int) -> tuple[dict[str, Any], list[dict[str, Any]], float]:
    """A fresh stack: the first trigger after ``up``, then ``repeats`` warm ones; ``up`` seconds."""
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-b13-"))
    project = f"mlstack-bench13-{os.getpid()}"
    stack = None
    try:
        build_standins()
        stack = ComposeProject(project, workdir, write_env(workdir, project))
        stack.compose("build", timeout=3000)
        t0 = time.perf_counter()
        stack.compose("up", "--detach", "--wait", "--wait-timeout", "900", timeout=1200)
        up_s = time.perf_counter() - t0
        log(f"up {up_s:.1f}s")
        first = make_trigger(stack)
        log(f"first trigger {first['wall_s']:.1f}s (run {first['trigger_to_finish_s']:.1f}s)")
        warm = []
        for i in range(repeats):
            warm.append(make_trigger(stack))
            log(
                f"warm trigger {i + 1}: {warm[-1]['wall_s']:.1f}s (run {warm[-1]['trigger_to_finish_s']:.1f}s)"
            )
        return first, warm, up_s
    finally:
        if stack is not None:
            stack.compose("down", "--volumes", "--remove-orphans", check=False, timeout=600)
        shutil.rmtree(workdir, ignore_errors=True)


def task_medians(runs: list[dict[str, Any]]) -> dict[str, float]:
    """Median duration of each task over ``runs`` (the trigger summaries)."""
    names = runs[0]["tasks"]
    return {
        name: median([r["tasks"][name]["duration_s"] for r in runs if r["tasks"][name].get("duration_s")])
        or 0.0
        for name in names
    }


def figures(
    native: dict[str, Any], first: dict[str, Any], warm: list[dict[str, Any]], up_s: float
) -> list[Figure]:
    """The B13 rows from one native comparison and one stack boot."""
    skip = 1 if "warm-up" in str(native.get("note", "")) else 0
    native_runs = native["dag_trigger_to_success_s"][skip:]
    native_tasks = {k: v for k, v in native["dag_task_median_s"].items() if v is not None}
    warm_runs = [r["trigger_to_finish_s"] for r in warm]
    overheads = [r["wall_s"] - r["trigger_to_finish_s"] for r in warm]
    stack_tasks = task_medians(warm)
    busy = sum(stack_tasks.values())
    rows = [
        Figure(
            id="B13",
            name="training DAG in the compose stack, warm: trigger to success",
            value=median(warm_runs),
            unit="s",
            reference=median(native_runs),
            reference_name="native services (B1 path), same run",
            limits=[ratio_at_most(WARM_RATIO), at_most(WARM_LIMIT_S, "s")],
            samples=warm_runs,
            reference_samples=native_runs,
            note=(
                f"tasks busy {busy:.1f}s of the median run; queued to started median "
                f"{median([r['queued_to_start_s'] or 0.0 for r in warm]):.2f}s; stack up {up_s:.0f}s before"
            ),
        ),
        Figure(
            id="B13",
            name="first `make trigger` after `make up` (wall, DAG parse included)",
            value=first["wall_s"],
            unit="s",
            limits=[at_most(FIRST_LIMIT_S, "s")],
            samples=[first["wall_s"]],
            note=(
                f"run {first['trigger_to_finish_s']:.1f}s, queued to started {first['queued_to_start_s'] or 0:.1f}s; "
                f"task seconds { ({k: round(v['duration_s'] or 0, 1) for k, v in first['tasks'].items()}) }"
            ),
        ),
        Figure(
            id="B13",
            name="`make trigger` overhead over the run (warm)",
            value=median(overheads),
            unit="s",
            limits=[at_most(OVERHEAD_LIMIT_S, "s")],
            samples=overheads,
            note="script wall minus the run's trigger-to-finish: compose exec, the CLI's start, polling",
        ),
    ]
    for name, seconds in stack_tasks.items():
        rows.append(
            Figure(
                id="B13",
                name=f"task `{name}` in the stack (warm median)",
                value=seconds,
                unit="s",
                reference=native_tasks.get(name),
                reference_name="the same task on the native services",
                samples=[r["tasks"][name]["duration_s"] or 0.0 for r in warm],
            )
        )
    return rows


def bench_b13(*, quick: bool = True, repeats: int = 3) -> list[Figure]:
    """B13: native B1 runs, then a fresh stack's first and warm ``make trigger``."""
    limits = [ratio_at_most(WARM_RATIO), at_most(WARM_LIMIT_S, "s")]
    repeats = max(1, min(repeats, 3) if quick else repeats)
    try:
        native = native_b1(repeats)
    except (RuntimeError, subprocess.SubprocessError, OSError) as exc:
        return [
            unavailable("B13", TITLE, f"the native services did not run the DAG: {str(exc)[:400]}", limits)
        ]
    we_started, why = start_engine()
    if why:
        return [unavailable("B13", TITLE, why, limits)]
    try:
        first, warm, up_s = boot_and_trigger(repeats)
    except (RuntimeError, subprocess.SubprocessError) as exc:
        return [unavailable("B13", TITLE, f"the stack did not run the DAG: {str(exc)[:600]}", limits)]
    finally:
        if we_started:
            stop_engine()
    return figures(native, first, warm, up_s)
