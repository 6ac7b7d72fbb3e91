"""B1, B2, B8: the training DAG on live Airflow services, under `airflow dags test`, and start-up.

Uses the platform's own front doors: ``mlstack airflow services`` (api-server, scheduler,
dag-processor, triggerer on PostgreSQL — what ``make airflow-up`` runs), ``benchmarks.airflow_compare``
(``compare``), ``devstack`` for PostgreSQL, the S3 server
and ``mlflow server``.

B1 (trigger-to-success): ``compare()`` of ``benchmarks/airflow_compare.py`` (also ``make
bench-airflow``): live services in a throwaway folder, ``repeats`` DAG runs triggered through REST
API v2 (POST dagRuns to ``success`` seen by polling), alternating with cold ``mlstack run`` CLI
processes; then the reference, ``mlstack run``'s steps in-process (``lifecycle.run_all``, imports
warm), ``repeats`` times on the same kind of store (embedded SQLite MLflow).

B8 (services start to healthy): PostgreSQL and the S3 server run first (infrastructure). Each
sample starts ``mlflow server`` and the four Airflow services at the same moment and stops the
clock when both answer healthy (MLflow ``/health``, Airflow ``/api/v2/monitor/health``). The first
boot also creates the databases (``airflow db migrate``, MLflow's schema): it is reported on its
own row; the figure is the median of the later starts on migrated databases (a restart).

B2: ``airflow dags test training_pipeline`` as a user types it (a new process each time) on
embedded defaults (SQLite Airflow and MLflow, migrated once before); reference: ``mlstack run``
in-process on the same embedded store.
"""

from __future__ import annotations

import importlib.util
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from benchmarks import PYTHON, Figure, at_most, median, ratio_at_most, run_child, unavailable
from benchmarks.lifecycle import worker_env

SERVICES = [str(Path(PYTHON).parent / "mlstack"), "airflow", "services"]
DAG_ID = "training_pipeline"
B1_LIMIT_S, B1_RATIO = 10.0, 2.0
B2_LIMIT_S = 25.0
B8_LIMIT_S = 30.0


def log(message: str) -> None:
    import sys

    print(f"[bench airflow] {message}", file=sys.stderr, flush=True)


def _clean_env(extra: Mapping[str, str]) -> dict[str, str]:
    drop = ("AIRFLOW", "MLSTACK_", "MLFLOW_", "_MLSTACK")
    env = {k: v for k, v in os.environ.items() if not k.startswith(drop)}
    env.update(extra)
    return env


def reference_runs(env: Mapping[str, str], runs: int, cwd: Path) -> dict[str, Any]:
    """``mlstack run`` in-process ``runs`` times in one worker (see benchmarks.lifecycle)."""
    child = run_child(
        [PYTHON, "-m", "benchmarks.lifecycle", "worker", "run", "--runs", str(runs)],
        env=env,
        cwd=cwd,
        timeout=1800,
    )
    if not child.ok:
        raise RuntimeError(f"reference `mlstack run` failed ({child.returncode}):\n{child.tail()}")
    return child.last_json()


# --------------------------------------------------------------------------------------------
# B8 + B1: live services
# --------------------------------------------------------------------------------------------


class LiveServices:
    """PostgreSQL + S3 + MLflow server + Airflow services, started and stopped by us."""

    def __init__(self, root: Path) -> None:
        from devstack.ports import free_port
        from devstack.postgres import start_postgres
        from devstack.s3 import start_s3_server

        self.root = root
        self.state_dir = root / "airflow-services"
        self.port = free_port()
        self.pg = start_postgres()
        self.s3 = start_s3_server(log_dir=root / "logs")
        self.mlflow = None
        self.password = secrets.token_urlsafe(12)
        self.airflow_db = self.pg.create_database(f"airflow_{secrets.token_hex(3)}")
        self.env: dict[str, str] = {}

    def _services(self, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [*SERVICES, *args, "--state-dir", str(self.state_dir)],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def start(self) -> dict[str, float]:
        """Start MLflow and Airflow at once; seconds until each, and both, are healthy."""
        from devstack.mlflow_server import start_mlflow_server

        started = time.perf_counter()
        timings: dict[str, float] = {}

        def start_mlflow() -> float:
            if self.mlflow is None:
                self.mlflow = start_mlflow_server(self.pg, self.s3, log_dir=self.root / "logs", wait=False)
                self.mlflow.wait_ready()
            else:
                self.mlflow.start()
            return time.perf_counter() - started

        def start_airflow() -> float:
            # The tasks talk to the MLflow server; its URL is known before it answers.
            while self.mlflow is None:
                time.sleep(0.01)
            self.env = _clean_env(
                {
                    "MLSTACK_HOME": str(self.root / "mlstack"),
                    "MLSTACK_AIRFLOW_DB_URL": self.airflow_db.sqlalchemy_url,
                    "MLSTACK_AIRFLOW_URL": f"http://127.0.0.1:{self.port}",
                    "MLSTACK_AIRFLOW_ADMIN_PASSWORD": self.password,
                    "MLSTACK_SCHEDULE": "none",
                    "MLSTACK_DRIFT_SCHEDULE": "none",
                    **self.mlflow.client_env(),
                }
            )
            out = self._services("up", "--port", str(self.port), "--cwd", str(self.root), "--json")
            if out.returncode != 0:
                raise RuntimeError(
                    f"mlstack airflow services up failed:\n{out.stdout[-2000:]}\n{out.stderr[-3000:]}"
                )
            timings.update({f"airflow_{k}": v for k, v in json.loads(out.stdout.splitlines()[-1]).items()
                            if isinstance(v, float)})  # fmt: skip
            return time.perf_counter() - started

        with ThreadPoolExecutor(2) as pool:
            mlflow_future, airflow_future = pool.submit(start_mlflow), pool.submit(start_airflow)
            timings["mlflow_s"] = mlflow_future.result()
            timings["airflow_s"] = airflow_future.result()
        timings["both_s"] = max(timings["mlflow_s"], timings["airflow_s"])
        return timings

    def stop_services(self) -> None:
        if self.env:
            out = self._services("down", timeout=300)
            if out.returncode != 0:
                log(f"mlstack airflow services down: {out.stderr[-1000:]}")
        if self.mlflow is not None:
            self.mlflow.stop()

    def close(self) -> None:
        try:
            self.stop_services()
        finally:
            self.s3.stop()
            self.pg.stop()


def bench_b8(*, quick: bool = True, repeats: int = 3, warm_starts: int | None = None) -> list[Figure]:
    """B8: MLflow + Airflow started at once, to healthy; ``warm_starts`` restarts after the first
    boot (default ``repeats``; 0 = the first boot only)."""
    if not _postgres_installed():
        return [unavailable("B8", _TITLES["B8"], "PostgreSQL binaries are not installed (make system-deps)")]
    if importlib.util.find_spec("devstack") is None:
        return [unavailable("B8", _TITLES["B8"], "devstack (the dev dependency group) is not installed")]
    root = Path(tempfile.mkdtemp(prefix="mlstack-bench-b8-"))
    live = LiveServices(root)
    try:
        starts: list[dict[str, float]] = []
        if warm_starts is None:  # quick mode: 2 restarts after the first boot
            warm_starts = max(1, min(repeats, 2) if quick else repeats)
        samples = 1 + warm_starts
        for i in range(samples):
            if i:
                live.stop_services()
            timings = live.start()
            log(f"B8 start {i + 1}/{samples}: both healthy in {timings['both_s']:.1f}s")
            starts.append(timings)
        return _b8_figures(starts)
    finally:
        live.close()
        shutil.rmtree(root, ignore_errors=True)


def _postgres_installed() -> bool:
    return bool(shutil.which("initdb") or list(Path("/usr/lib/postgresql").glob("*/bin/initdb")))


def _b8_figures(starts: list[dict[str, float]]) -> list[Figure]:
    first, warm = starts[0], starts[1:]
    if not warm:  # first boot only (smoke): report it, and say so
        return [
            Figure(
                id="B8",
                name="MLflow + Airflow services: first boot to healthy",
                value=first["both_s"],
                unit="s",
                limits=[at_most(B8_LIMIT_S, "s")],
                samples=[first["both_s"]],
                note="first boot only (database migrations included); no restart measured",
                extra={"starts": starts},
            )
        ]
    both = [s["both_s"] for s in warm]
    return [
        Figure(
            id="B8",
            name="MLflow + Airflow services: start to healthy",
            value=median(both),
            unit="s",
            limits=[at_most(B8_LIMIT_S, "s")],
            samples=both,
            note=(
                "both started at once on migrated databases; median MLflow "
                f"{median([s['mlflow_s'] for s in warm]):.1f}s, Airflow "
                f"{median([s['airflow_s'] for s in warm]):.1f}s"
            ),
            extra={"starts": starts},
        ),
        Figure(
            id="B8",
            name="first boot incl. database setup (migrations)",
            value=first["both_s"],
            unit="s",
            samples=[first["both_s"]],
            note=f"once: MLflow {first['mlflow_s']:.1f}s, Airflow {first['airflow_s']:.1f}s (db migrate included)",
        ),
    ]


def bench_b1(*, quick: bool = True, repeats: int = 3) -> list[Figure]:
    """B1 through ``compare()`` of benchmarks/airflow_compare.py: DAG runs vs in-process run_all."""
    if not _postgres_installed():
        return [unavailable("B1", _TITLES["B1"], "PostgreSQL binaries are not installed (make system-deps)")]
    if importlib.util.find_spec("devstack") is None:
        return [unavailable("B1", _TITLES["B1"], "devstack (the dev dependency group) is not installed")]
    from benchmarks.airflow_compare import compare

    root = Path(tempfile.mkdtemp(prefix="mlstack-bench-b1-"))
    try:
        # Quick mode: at most 3 measured runs after the warm-up (each also runs a cold CLI `mlstack run`).
        out = compare(max(1, min(repeats, 3) if quick else repeats), workdir=root)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    # compare() runs one warm-up per side first (a new MLflow store, the first registered model)
    # and says so in its note: the figure is the median of the runs after it.
    skip = 1 if "warm-up" in str(out.get("note", "")) else 0
    samples = out["dag_trigger_to_success_s"][skip:]
    reference = out["run_all_in_process_warm_s"][skip:]
    value = median(samples)
    tasks = {k: v for k, v in out["dag_task_median_s"].items() if v is not None}
    return [
        Figure(
            id="B1",
            name="training DAG trigger-to-success (live services)",
            value=value,
            unit="s",
            reference=median(reference),
            reference_name="in-process mlstack run (warm)",
            limits=[ratio_at_most(B1_RATIO), at_most(B1_LIMIT_S, "s")],
            samples=samples,
            reference_samples=reference,
            note=(
                f"tasks busy {out['dag_task_sum_median_s']:.1f}s of {value:.1f}s (the rest: scheduling "
                f"and hand-over between 6 tasks, median {out.get('dag_hop_median_s') or 0:.2f}s from the "
                f"end of one task to the start of the next); median task seconds {tasks}; a cold `mlstack run` "
                f"CLI process took {median(out['mlstack_run_cli_s'][skip:]):.1f}s"
                + (f"; warm-up run excluded (DAG {out['dag_trigger_to_success_s'][0]:.1f}s)" if skip else "")
            ),
            extra=out,
        ),
        # The same DAG runs against `mlstack run` as a user types it (a new process: imports,
        # settings, the six steps); the row above compares with the steps alone, imports warm.
        Figure(
            id="B1",
            name="training DAG trigger-to-success vs a `mlstack run` process",
            value=value,
            unit="s",
            reference=median(out["mlstack_run_cli_s"][skip:]),
            reference_name="`mlstack run` CLI process (cold imports)",
            limits=[ratio_at_most(B1_RATIO)],
            samples=samples,
            reference_samples=out["mlstack_run_cli_s"][skip:],
            note="same DAG samples as the row above; the reference pays its imports once, as every CLI run does",
        ),
    ]


# --------------------------------------------------------------------------------------------
# B2: airflow dags test
# --------------------------------------------------------------------------------------------


def bench_b2(*, quick: bool = True, repeats: int = 3) -> list[Figure]:
    from mlstack.airflow.embedded import embedded_airflow_env, migrate_airflow_db

    root = Path(tempfile.mkdtemp(prefix="mlstack-bench-b2-"))
    try:
        home = root / "mlstack"
        airflow_env = embedded_airflow_env(root / "airflow")
        env = worker_env(home, {**airflow_env, "MLSTACK_SCHEDULE": "none", "MLSTACK_DRIFT_SCHEDULE": "none"})
        migrate_s = migrate_airflow_db(env)
        airflow = str(Path(PYTHON).parent / "airflow")
        samples, outs = [], []
        for i in range(max(1, repeats)):
            child = run_child([airflow, "dags", "test", DAG_ID], env=env, cwd=root, timeout=900)
            if not child.ok:
                raise RuntimeError(f"airflow dags test failed ({child.returncode}):\n{child.tail()}")
            text = child.stdout + child.stderr
            if "failed" in _final_state(text):
                raise RuntimeError(f"airflow dags test: the run did not succeed:\n{child.tail()}")
            samples.append(child.wall_s)
            outs.append({"wall_s": child.wall_s, "cpu_s": child.user_s + child.sys_s})
            log(f"B2 run {i + 1}: {child.wall_s:.1f}s")
        ref = reference_runs(worker_env(root / "reference"), max(1, repeats), root)
        value = median(samples)
        return [
            Figure(
                id="B2",
                name="`airflow dags test training_pipeline` (embedded)",
                value=value,
                unit="s",
                reference=median(ref["samples"]),
                reference_name="in-process mlstack run",
                limits=[at_most(B2_LIMIT_S, "s")],
                samples=samples,
                reference_samples=ref["samples"],
                note=(
                    "a new `airflow` process per sample (imports, DAG parsing, six tasks in-process); "
                    f"Airflow DB migrated once before ({migrate_s:.0f}s, not counted)"
                ),
                extra={"runs": outs, "reference_steps": ref["steps"], "migrate_s": migrate_s},
            )
        ]
    finally:
        shutil.rmtree(root, ignore_errors=True)


def _final_state(text: str) -> str:
    """The dag run's final state as `airflow dags test` logs it (lower-case), '' if not found."""
    import re

    found = re.findall(r"[Mm]arking run <DagRun[^>]*> (successful|failed)", text)
    found += re.findall(r"DagRun Finished: .*?state=(\w+)", text)
    return found[-1].lower() if found else ""


_TITLES = {
    "B1": "training DAG trigger-to-success, live Airflow services",
    "B8": "native services (MLflow + Airflow) start to healthy",
}
