"""Sizing: measured memory and CPU of the served components, at rest and under load.

The requests and limits of ``deploy/kubernetes`` are taken from these figures
(``deploy/README.md`` has the table). Each component runs natively as the same command its
container runs, in its own process group; a sampler thread reads the group's memory and CPU time
every 0.5 s through psutil. Memory is the sum of PSS (proportional set size: a page shared by
forked processes counts once in all, which is what a container's cgroup is charged for resident
memory); RSS summed over the group (which counts shared pages once per process) is kept beside it.

- **MLflow server**: ``mlflow server --workers 1`` with the job runner off, as compose runs it
  (SQLite store and a local artifact folder here instead of PostgreSQL and S3). At rest: 20 s
  after /health answers. Under load: a training run of the lifecycle logged to it
  (``lifecycle.run_all``: params, metrics, artifacts, a registered version), then 8 clients
  searching runs and reading the champion alias for 20 s.
- **Prediction API** (``mlstack serve``, 1 uvicorn worker): champion loaded from that MLflow
  server. At rest: 20 s after /ready. Under load: B11's load (50 clients posting one row,
  here for 30 s; ``benchmarks.api_load``).
- **Streamlit** (``streamlit run streamlit/app.py``): at rest, 15 s after /_stcore/health
  (no session: the app's modules are not imported yet); then with sessions: headless Chromium
  opens the Predict page 3 times in a row (each a new session: imports, champion load, a
  prediction clicked), sampled throughout and 10 s after.
- **Airflow services** (``--airflow``; ``mlstack airflow services``: api-server, scheduler,
  dag-processor, triggerer on a local PostgreSQL, LocalExecutor as compose runs it): each
  service's process group at rest (20 s after healthy), then during two training DAG runs
  triggered through the REST API. LocalExecutor forks the tasks from the scheduler, so the
  scheduler's figure during a run holds the task processes (a Celery worker's share).

Client, servers and other work share the machine's cores: CPU figures are those of a busy
2-core host, and memory figures are the meaningful part.

Run alone: ``python -m benchmarks.sizing [--json out.json]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psutil

from benchmarks import MIB, ROOT
from benchmarks.api_load import ROW, TOKEN, _load


def _log(message: str) -> None:
    print(f"[sizing {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


class Sampler:
    """Samples a process group's total RSS and CPU seconds until stopped."""

    def __init__(self, pids: Any, interval: float = 0.5) -> None:
        self._pids = pids
        self.interval = interval
        self.samples: list[tuple[float, float, float, float]] = []  # (time, pss, rss bytes, cpu seconds)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _read(self) -> tuple[float, float, float]:
        pss = rss = cpu = 0.0
        for pid in self._pids():
            try:
                proc = psutil.Process(pid)
                memory = proc.memory_full_info()
                pss += memory.pss
                rss += memory.rss
                times = proc.cpu_times()
                cpu += times.user + times.system
            except psutil.Error:
                continue
        return pss, rss, cpu

    def _run(self) -> None:
        while not self._stop.is_set():
            pss, rss, cpu = self._read()
            self.samples.append((time.monotonic(), pss, rss, cpu))
            self._stop.wait(self.interval)

    def __enter__(self) -> Sampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def summary(self) -> dict[str, float]:
        """Median and peak PSS, peak RSS (MiB), mean and peak CPU (cores) over the window."""
        if len(self.samples) < 3:
            raise RuntimeError("too few samples")
        pss = [s[1] / MIB for s in self.samples]
        rates = []
        for (t0, _, _, c0), (t1, _, _, c1) in zip(self.samples, self.samples[1:], strict=False):
            if t1 > t0:
                rates.append(max(0.0, (c1 - c0) / (t1 - t0)))
        span = self.samples[-1][0] - self.samples[0][0]
        return {
            "pss_median_mib": round(statistics.median(pss), 1),
            "pss_peak_mib": round(max(pss), 1),
            "rss_peak_mib": round(max(s[2] for s in self.samples) / MIB, 1),
            "cpu_mean_cores": round((self.samples[-1][3] - self.samples[0][3]) / span, 3),
            "cpu_peak_cores": round(max(rates), 3),
            "seconds": round(span, 1),
        }


def _window(process: Any, seconds: float, during: Any = None) -> dict[str, float]:
    """Sample `process`'s group for `seconds`, or while `during()` runs."""
    with Sampler(process.group_members) as sampler:
        if during is None:
            time.sleep(seconds)
        else:
            during()
    return sampler.summary()


def _browse(url: str, sessions: int) -> None:
    """Open the app's Predict page `sessions` times (headless Chromium), click Predict each time."""
    from playwright.sync_api import sync_playwright

    flags = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--no-first-run"]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", headless=True, args=flags)
        try:
            for _ in range(sessions):
                page = browser.new_page()
                page.goto(url, wait_until="domcontentloaded")
                predict = page.get_by_role("button", name="Predict")
                predict.wait_for(timeout=180_000)
                predict.click()
                page.get_by_role("heading", name="Predicted species", exact=False).wait_for(timeout=60_000)
                page.close()
        finally:
            browser.close()
    time.sleep(10)


def measure(api_seconds: float = 30.0) -> dict[str, Any]:
    """Boot MLflow, the API and Streamlit natively; return the measured windows per component."""
    from devstack.ports import free_port
    from devstack.processes import ManagedProcess, venv_tool
    from mlstack import lifecycle
    from mlstack.config import Settings

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mlstack-sizing-") as tmp:
        base = Path(tmp)
        home = base / "home"
        scrub = [v for v in os.environ if v.startswith(("MLSTACK_", "MLFLOW_"))]
        mlflow_port = free_port()
        tracking = f"http://127.0.0.1:{mlflow_port}"
        mlflow = ManagedProcess(
            "mlflow",
            [
                venv_tool("mlflow"),
                "server",
                "--host",
                "127.0.0.1",
                "--port",
                str(mlflow_port),
                "--workers",
                "1",
                "--backend-store-uri",
                f"sqlite:///{base / 'mlflow.db'}",
                "--serve-artifacts",
                "--artifacts-destination",
                str(base / "artifacts"),
            ],
            env={"MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false", "MLFLOW_DISABLE_TELEMETRY": "true"},
            unset_env=scrub,
            cwd=base,
            log_dir=base / "logs",
        )
        mlflow.start()
        try:
            mlflow.wait_http(f"{tracking}/health", timeout=180)
            _log("mlflow at rest")
            results["mlflow_rest"] = _window(mlflow, 20)
            settings = Settings(_env_file=None, home=home, tracking_uri=tracking)
            ctx = lifecycle.context(settings, "penguins")
            summary: dict[str, Any] = {}

            def train() -> None:
                summary.update(lifecycle.run_all(ctx))

            _log("mlflow during a training run")
            results["mlflow_training"] = _window(mlflow, 0, train)
            search = f"{tracking}/api/2.0/mlflow/runs/search"

            def searches() -> None:
                asyncio.run(_load(search, 8, 20.0, {"experiment_ids": ["0", "1"], "max_results": 50}))

            _log("mlflow under 8 searching clients")
            results["mlflow_search_load"] = _window(mlflow, 0, searches)

            env = {"MLSTACK_HOME": str(home), "MLFLOW_TRACKING_URI": tracking, "MLSTACK_API_TOKEN": TOKEN}
            api_port = free_port()
            api = ManagedProcess(
                "api",
                [venv_tool("mlstack"), "serve", "--port", str(api_port)],
                env=env,
                unset_env=scrub,
                cwd=base,
                log_dir=base / "logs",
            )
            api.start()
            try:
                api_url = f"http://127.0.0.1:{api_port}"
                api.wait_http(f"{api_url}/ready", timeout=180)
                asyncio.run(_load(f"{api_url}/v1/predict", 2, 2.0, {"rows": [ROW]}))  # warm-up
                _log("api at rest")
                results["api_rest"] = _window(api, 20)
                load: dict[str, Any] = {}

                def b11() -> None:
                    load.update(asyncio.run(_load(f"{api_url}/v1/predict", 50, api_seconds, {"rows": [ROW]})))

                _log(f"api under 50 clients x {api_seconds:.0f} s")
                results["api_load"] = _window(api, 0, b11)
                results["api_load"]["throughput_rps"] = round(load["throughput_rps"], 1)
                results["api_load"]["errors"] = load["requests"] - load["ok"]
            finally:
                api.stop(timeout=15)

            st_port = free_port()
            streamlit = ManagedProcess(
                "streamlit",
                [
                    venv_tool("streamlit"),
                    "run",
                    str(ROOT / "streamlit" / "app.py"),
                    "--server.headless",
                    "true",
                    "--server.address",
                    "127.0.0.1",
                    "--server.port",
                    str(st_port),
                    "--browser.gatherUsageStats",
                    "false",
                ],
                env=env,
                unset_env=scrub,
                cwd=base,
                log_dir=base / "logs",
            )
            streamlit.start()
            try:
                streamlit.wait_http(f"http://127.0.0.1:{st_port}/_stcore/health", timeout=120)
                _log("streamlit at rest")
                results["streamlit_rest"] = _window(streamlit, 15)
                url = f"http://127.0.0.1:{st_port}"
                _log("streamlit with browser sessions")
                results["streamlit_sessions"] = _window(streamlit, 0, lambda: _browse(url, 3))
            finally:
                streamlit.stop(timeout=15)
        finally:
            mlflow.stop(timeout=15)
    results["host"] = {"cpus": os.cpu_count(), "load_avg": [round(x, 2) for x in os.getloadavg()]}
    return results


def measure_airflow(runs: int = 2) -> dict[str, Any]:
    """Boot the native Airflow services; each one's figures at rest and during `runs` DAG runs."""
    import secrets
    import subprocess

    from benchmarks.airflow_compare import SERVICES, _clean_env
    from devstack.airflow_services import COMPONENTS, state_at
    from devstack.ports import free_port
    from devstack.processes import group_members
    from mlstack.airflow.client import AirflowClient
    from mlstack.config import Settings

    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="mlstack-sizing-airflow-") as tmp:
        root = Path(tmp)
        port, password = free_port(), secrets.token_urlsafe(12)
        env = _clean_env(
            {
                "MLSTACK_HOME": str(root / "home"),
                "MLSTACK_AIRFLOW_URL": f"http://127.0.0.1:{port}",
                "MLSTACK_AIRFLOW_ADMIN_PASSWORD": password,
                "MLSTACK_SCHEDULE": "none",
            }
        )
        state = ["--state-dir", str(root / "services")]
        subprocess.run(
            [*SERVICES, "up", *state, "--port", str(port), "--cwd", str(root), "--json"],
            env=env,
            cwd=root,
            check=True,
            capture_output=True,
        )
        try:
            services = state_at(root / "services")

            def members(name: str) -> Any:
                pid = services.pid(name)
                return lambda: group_members(pid) if pid else []

            client = AirflowClient.from_settings(
                Settings(
                    _env_file=None, airflow_url=f"http://127.0.0.1:{port}", airflow_admin_password=password
                )
            )
            client.trigger_and_wait("training_pipeline", {}, timeout=900, interval=0.5)  # warm-up
            samplers = {name: Sampler(members(name)) for name in COMPONENTS}
            _log("airflow services at rest")
            for sampler in samplers.values():
                sampler.__enter__()
            time.sleep(20)
            for name, sampler in samplers.items():
                sampler.__exit__()
                results[f"airflow_{name}_rest"] = sampler.summary()
            samplers = {name: Sampler(members(name)) for name in COMPONENTS}
            _log(f"airflow services during {runs} training DAG runs")
            for sampler in samplers.values():
                sampler.__enter__()
            for _ in range(runs):
                result = client.trigger_and_wait("training_pipeline", {}, timeout=900, interval=0.5)
                if result.state != "success":
                    raise RuntimeError(f"DAG run {result.run_id} {result.state}")
            for name, sampler in samplers.items():
                sampler.__exit__()
                results[f"airflow_{name}_dag_run"] = sampler.summary()
        finally:
            subprocess.run(
                [*SERVICES, "purge", "--yes", *state], env=env, cwd=root, check=False, capture_output=True
            )
    return results


# deploy/sizing.json: which measured windows size which container (rest, under load).
KUBERNETES = {
    "api": ("Deployment/api", "api_rest", ["api_load"]),
    "mlflow": ("Deployment/mlflow", "mlflow_rest", ["mlflow_training", "mlflow_search_load"]),
    "streamlit": ("Deployment/streamlit", "streamlit_rest", ["streamlit_sessions"]),
}
AIRFLOW = {
    "api-server": ("apiServer", "airflow_api-server_rest", ["airflow_api-server_dag_run"]),
    "scheduler": ("scheduler", "airflow_scheduler_rest", ["airflow_scheduler_dag_run"]),
    "dag-processor": ("dagProcessor", "airflow_dag-processor_rest", ["airflow_dag-processor_dag_run"]),
    "triggerer": ("triggerer", "airflow_triggerer_rest", ["airflow_triggerer_dag_run"]),
}


def _entry(raw: dict[str, Any], rest: str, loaded: list[str]) -> dict[str, Any]:
    windows = [raw[name] for name in loaded]
    return {
        "rest_pss_mib": raw[rest]["pss_median_mib"],
        "pss_median_mib": max(w["pss_median_mib"] for w in windows),
        "pss_peak_mib": max(w["pss_peak_mib"] for w in windows),
        "rss_peak_mib": max(w["rss_peak_mib"] for w in windows),
        "cpu_mean_cores": max(w["cpu_mean_cores"] for w in windows),
        "cpu_peak_cores": max(w["cpu_peak_cores"] for w in windows),
        "windows": [rest, *loaded],
    }


def deploy_figures(serving: dict[str, Any], airflow: dict[str, Any]) -> dict[str, Any]:
    """deploy/sizing.json from the raw figures of `measure()` and `measure_airflow()`."""
    out: dict[str, Any] = {
        "measured_with": "python -m benchmarks.sizing (and --airflow); see its docstring",
        "host": serving.get("host"),
        "kubernetes": {},
        "airflow": {},
        "raw": {"serving": serving, "airflow": airflow},
    }
    for name, (workload, rest, loaded) in KUBERNETES.items():
        out["kubernetes"][name] = {"workload": workload, **_entry(serving, rest, loaded)}
    for name, (key, rest, loaded) in AIRFLOW.items():
        out["airflow"][name] = {"values_key": key, **_entry(airflow, rest, loaded)}
    return out


def markdown_table(figures: dict[str, Any]) -> str:
    """The sizing table of deploy/README.md from deploy/sizing.json."""
    lines = [
        "| component | at rest: PSS | under load: PSS median / peak | RSS peak (group) | CPU under load: mean / peak | load |",
        "|---|---|---|---|---|---|",
    ]
    for section in ("kubernetes", "airflow"):
        for name, f in figures[section].items():
            rest = f"{f['rest_pss_mib']:.0f} MiB" if f.get("rest_pss_mib") is not None else "-"
            lines.append(
                f"| {name} | {rest} | {f['pss_median_mib']:.0f} / {f['pss_peak_mib']:.0f} MiB | "
                f"{f['rss_peak_mib']:.0f} MiB | {f['cpu_mean_cores']:.2f} / {f['cpu_peak_cores']:.2f} cores | "
                f"{LOADS.get(name, ', '.join(f['windows'][1:]))} |"
            )
    return "\n".join(lines)


LOADS = {
    "api": "B11's load: 50 clients posting one row for 30 s",
    "mlflow": "a training run logged to it, then 8 clients searching runs for 20 s",
    "streamlit": "3 browser sessions in a row, each predicting once",
    "bucket-init": "one run of create_bucket.py against an S3 stand-in",
    "api-server": "2 training DAG runs (REST API polled every 0.5 s)",
    "scheduler": "2 training DAG runs; LocalExecutor: its forked task processes included",
    "dag-processor": "2 training DAG runs",
    "triggerer": "2 training DAG runs",
}


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.sizing``: measure and print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--api-seconds", type=float, default=30.0)
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument("--airflow", action="store_true", help="measure the Airflow services instead")
    parser.add_argument(
        "--combine",
        nargs=2,
        type=Path,
        metavar=("SERVING", "AIRFLOW"),
        help="write deploy/sizing.json from two runs' JSON",
    )
    parser.add_argument("--table", type=Path, help="print deploy/sizing.json as a Markdown table")
    args = parser.parse_args(argv)
    if args.table:
        print(markdown_table(json.loads(args.table.read_text())))
        return 0
    if args.combine:
        serving, airflow = (json.loads(path.read_text()) for path in args.combine)
        results = deploy_figures(serving, airflow)
    else:
        results = measure_airflow() if args.airflow else measure(api_seconds=args.api_seconds)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
