"""Trigger-to-success of the training DAG on live Airflow services vs the in-process lifecycle.

    python -m benchmarks.airflow_compare [--runs N] [--no-preload] [--out FILE.json]

Starts the native services (``mlstack airflow services``, local PostgreSQL, LocalExecutor) in a
throwaway folder, then alternates DAG runs triggered through REST API v2 with `mlstack run` CLI
runs, and times warm in-process ``lifecycle.run_all`` calls, all on the default dataset and the same
kind of store (embedded SQLite MLflow, one store per side); one warm-up run per side, then N. Prints one JSON document; the
benchmark suite can import :func:`compare` and call it with its own sizes.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from devstack.ports import free_port

BIN = Path(sys.executable).parent
SERVICES = [str(BIN / "mlstack"), "airflow", "services"]

# The warm in-process timing: imports paid before the clock starts, like a long-lived worker.
_WARM_RUN_ALL = """
import json, sys, time
from mlstack import lifecycle
from mlstack.config import load_settings
import mlstack.model.train, mlstack.registry.promotion, mlflow.sklearn, sklearn.ensemble  # warm
ctx = lifecycle.context(load_settings(), "penguins")
times = []
for _ in range(int(sys.argv[1])):
    t0 = time.perf_counter()
    lifecycle.run_all(ctx)
    times.append(time.perf_counter() - t0)
print(json.dumps(times))
"""


def _clean_env(extra: dict[str, str]) -> dict[str, str]:
    drop = ("AIRFLOW", "MLSTACK_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY", "_MLSTACK")
    return {**{k: v for k, v in os.environ.items() if not k.startswith(drop)}, **extra}


def _median(values: list[float]) -> float | None:
    return round(statistics.median(values), 2) if values else None


def _hops(tasks: dict[str, dict[str, Any]]) -> list[float]:
    """Seconds from the end of each task to the start of the next one (the hand-over)."""
    from datetime import datetime
    from itertools import pairwise

    spans = sorted(
        (datetime.fromisoformat(t["start"]), datetime.fromisoformat(t["end"]))
        for t in tasks.values()
        if t.get("start") and t.get("end")
    )
    return [(nxt[0] - cur[1]).total_seconds() for cur, nxt in pairwise(spans)]


def compare(runs: int = 2, *, preload: bool = True, workdir: Path | None = None) -> dict[str, Any]:
    """Run the comparison; returns timings (seconds) and ratios. Stops everything it started."""
    from mlstack.airflow.client import AirflowClient
    from mlstack.config import Settings

    root = Path(workdir or tempfile.mkdtemp(prefix="mlstack-bench-airflow-"))
    port, password = free_port(), secrets.token_urlsafe(12)
    dag_env = _clean_env(
        {
            "MLSTACK_HOME": str(root / "dag-home"),
            "MLSTACK_AIRFLOW_URL": f"http://127.0.0.1:{port}",
            "MLSTACK_AIRFLOW_ADMIN_PASSWORD": password,
            "MLSTACK_SCHEDULE": "none",
            "MLSTACK_AIRFLOW_PRELOAD": "1" if preload else "0",
        }
    )
    cli_env = _clean_env({"MLSTACK_HOME": str(root / "cli-home")})
    warm_env = _clean_env({"MLSTACK_HOME": str(root / "warm-home")})
    state = ["--state-dir", str(root / "services")]  # after the sub-command
    out: dict[str, Any] = {"runs": runs, "preload": preload, "cpus": os.cpu_count()}
    load_before = os.getloadavg()[0]

    started = subprocess.run(
        [*SERVICES, "up", *state, "--cwd", str(root), "--json"],
        env=dag_env,
        cwd=root,
        capture_output=True,
        text=True,
        check=False,
    )
    if started.returncode != 0:
        subprocess.run(
            [*SERVICES, "purge", "--yes", *state], env=dag_env, cwd=root, capture_output=True, check=False
        )
        raise RuntimeError(f"airflow services did not start:\n{started.stderr[-4000:]}")
    out["services_up"] = json.loads(started.stdout.strip().splitlines()[-1])
    dag_runs: list[dict[str, Any]] = []
    cli_wall: list[float] = []
    try:
        client = AirflowClient.from_settings(
            Settings(_env_file=None, airflow_url=f"http://127.0.0.1:{port}", airflow_admin_password=password)
        )
        # Run 0 of each side is a warm-up (creates the MLflow store, first registered model): kept
        # in the output, left out of the medians.
        for _ in range(runs + 1):
            # Poll every 0.1 s: the figure is when the run is seen finished, so a coarse poll
            # would add up to its interval to every sample.
            result = client.trigger_and_wait("training_pipeline", {}, timeout=1800, interval=0.1)
            if result.state != "success":
                raise RuntimeError(f"DAG run {result.run_id} {result.state}: {result.tasks}")
            dag_runs.append(result.to_dict())
            t0 = time.perf_counter()
            subprocess.run(
                [str(BIN / "mlstack"), "run", "--json"],
                env=cli_env,
                cwd=root,
                capture_output=True,
                check=True,
            )
            cli_wall.append(time.perf_counter() - t0)
    finally:
        stopped = subprocess.run(
            [*SERVICES, "purge", "--yes", *state],
            env=dag_env,
            cwd=root,
            capture_output=True,
            text=True,
            check=False,
        )
        out["services_down_ok"] = stopped.returncode == 0
    warm = subprocess.run(
        [sys.executable, "-c", _WARM_RUN_ALL, str(runs + 1)],
        env=warm_env,
        cwd=root,
        capture_output=True,
        text=True,
        check=True,
    )
    warm_times = json.loads(warm.stdout.strip().splitlines()[-1])
    if workdir is None:
        shutil.rmtree(root, ignore_errors=True)

    trigger = [r["trigger_to_finish_s"] for r in dag_runs]
    measured = dag_runs[1:]
    tasks = {
        task: _median([r["tasks"][task]["duration_s"] for r in measured if r["tasks"][task]["duration_s"]])
        for task in measured[0]["tasks"]
    }
    out.update(
        {
            "note": "index 0 of each list is the warm-up run; medians and ratios use the others",
            "dag_trigger_to_success_s": [round(t, 2) for t in trigger],
            "dag_run_duration_s": [round(r["run_duration_s"] or 0, 2) for r in dag_runs],
            "dag_queued_to_start_s": [round(r["queued_to_start_s"] or 0, 2) for r in dag_runs],
            "dag_task_median_s": tasks,
            "dag_task_sum_median_s": round(sum(v for v in tasks.values() if v), 2),
            "dag_hop_median_s": _median([gap for r in measured for gap in _hops(r["tasks"])]),
            "mlstack_run_cli_s": [round(t, 2) for t in cli_wall],
            "run_all_in_process_warm_s": [round(t, 2) for t in warm_times],
            "median_dag_trigger_to_success_s": _median(trigger[1:]),
            "median_mlstack_run_cli_s": _median(cli_wall[1:]),
            "median_run_all_warm_s": _median(warm_times[1:]),
            "ratio_dag_vs_cli_median": round(
                statistics.median(trigger[1:]) / statistics.median(cli_wall[1:]), 2
            ),
            "ratio_dag_vs_warm_median": round(
                statistics.median(trigger[1:]) / statistics.median(warm_times[1:]), 2
            ),
            "loadavg_1m_before_after": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        }
    )
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=2)
    parser.add_argument(
        "--no-preload", action="store_true", help="plain `airflow scheduler` (for comparison)"
    )
    parser.add_argument("--out", type=Path, help="also write the JSON here")
    args = parser.parse_args()
    result = compare(args.runs, preload=not args.no_preload)
    text = json.dumps(result, indent=2)
    print(text)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
