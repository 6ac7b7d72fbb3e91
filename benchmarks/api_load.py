"""B11: the prediction API under load: 50 concurrent clients for 60 s, one-row requests.

Set-up (not timed): a penguins champion trained on embedded defaults (`lifecycle.run_all`, SQLite
MLflow, prediction log in SQLite as `make demo` has it), then `mlstack serve` as a real process
(one uvicorn worker, a bearer token set) on a free loopback port, warmed up until /ready.

Load: an asyncio client in this process (httpx, one connection per client, keep-alive), each of
`clients` tasks posting one row to `/v1/predict` in a loop for `seconds`; latency is the time from
sending a request to having its JSON. An error is any answer other than 200, or a failed request.
Reference, same run, same clients: `GET /health` for `reference_seconds` (the HTTP stack and the
client without a model, input checks or the prediction log).

Figures: p50 and p99 latency (reported beside the reference), and the share of requests
answered 200 (target: all of them). Client and server share the machine's cores, so the figures
are those of the pair; throughput and error counts are in the note and the JSON.

Run alone: ``python -m benchmarks.api_load [--clients 50] [--seconds 60]``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import Figure, at_least, unavailable

TITLE = "prediction API under load (50 clients x 60 s)"
TOKEN = "bench-token-" + "x" * 32
ROW = {
    "island": "Biscoe",
    "bill_length_mm": 47.5,
    "bill_depth_mm": 14.8,
    "flipper_length_mm": 217,
    "body_mass_g": 5200,
    "sex": "female",
    "year": 2008,
}


def _log(message: str) -> None:
    print(f"[bench api {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _quantile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _load(url: str, clients: int, seconds: float, body: dict[str, Any] | None) -> dict[str, Any]:
    """`clients` tasks hitting `url` (POST `body`, or GET when None) for `seconds`."""
    import httpx

    latencies: list[float] = []
    statuses: dict[str, int] = {}
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    headers = {"Authorization": f"Bearer {TOKEN}"}
    async with httpx.AsyncClient(limits=limits, timeout=30.0, headers=headers) as client:
        deadline = time.perf_counter() + seconds

        async def worker() -> None:
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                try:
                    if body is None:
                        response = await client.get(url)
                    else:
                        response = await client.post(url, json=body)
                    response.json()
                    key = str(response.status_code)
                except Exception as exc:  # a failed request is an error of the figure, not of the run
                    key = type(exc).__name__
                latencies.append(time.perf_counter() - started)
                statuses[key] = statuses.get(key, 0) + 1

        started = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(clients)))
        wall = time.perf_counter() - started
    total = sum(statuses.values())
    return {
        "requests": total,
        "ok": statuses.get("200", 0),
        "statuses": statuses,
        "wall_s": wall,
        "throughput_rps": total / wall if wall else 0.0,
        "p50_ms": 1000 * _quantile(latencies, 0.50) if latencies else None,
        "p99_ms": 1000 * _quantile(latencies, 0.99) if latencies else None,
        "mean_ms": 1000 * statistics.fmean(latencies) if latencies else None,
    }


def _serve(home: Path, port: int, log_dir: Path, *, module: str | None = None):
    """`mlstack serve` on `port` for the champion under `home`; `module`: a benchmark's own
    front door to it (run with ``python -m``, this checkout on PYTHONPATH)."""
    from devstack.processes import ManagedProcess, venv_tool

    env = {"MLSTACK_HOME": str(home), "MLSTACK_API_TOKEN": TOKEN}
    command = [venv_tool("mlstack"), "serve"]
    if module is not None:
        env["PYTHONPATH"] = str(Path(__file__).resolve().parents[1])
        command = [sys.executable, "-m", module]
    unset = [v for v in os.environ if v.startswith(("MLSTACK_", "MLFLOW_TRACKING", "MLFLOW_REGISTRY"))]
    return ManagedProcess(
        module or "mlstack-serve",
        [*command, "--port", str(port)],
        env=env,
        unset_env=[v for v in unset if v not in env],
        cwd=home.parent,  # no .env/.secrets of the checkout
        log_dir=log_dir,
    )


def bench_b11(
    *,
    quick: bool = True,
    repeats: int = 1,
    clients: int = 50,
    seconds: float = 60.0,
    reference_seconds: float = 20.0,
) -> list[Figure]:
    """B11 figures: p50 and p99 under load beside /health's, and the share answered 200.

    One load run whatever `repeats` says: the run is long on purpose (a minute of sustained load),
    and its thousands of requests are the samples."""
    from devstack.ports import free_port
    from mlstack import lifecycle
    from mlstack.config import Settings

    del quick, repeats
    with tempfile.TemporaryDirectory(prefix="mlstack-bench-api-") as tmp:
        home = Path(tmp) / "home"
        _log("training the champion (embedded defaults)")
        ctx = lifecycle.context(Settings(_env_file=None, home=home, tracking_uri=None), "penguins")
        summary = lifecycle.run_all(ctx)
        port = free_port()
        server = _serve(home, port, Path(tmp) / "logs")
        base = f"http://127.0.0.1:{port}"
        server.start()
        try:
            try:
                server.wait_http(f"{base}/ready", timeout=120)
            except Exception as exc:
                log = server.log_path.read_text()[-1500:] if server.log_path.exists() else ""
                return [unavailable("B11", TITLE, f"mlstack serve did not get ready: {exc}", log=log)]
            asyncio.run(_load(f"{base}/v1/predict", 2, 2.0, {"rows": [ROW]}))  # warm-up, not counted
            _log(f"load: {clients} clients x {seconds:.0f} s on /v1/predict")
            load = asyncio.run(_load(f"{base}/v1/predict", clients, seconds, {"rows": [ROW]}))
            _log(f"reference: {clients} clients x {reference_seconds:.0f} s on /health")
            ref = asyncio.run(_load(f"{base}/health", clients, reference_seconds, None))
        finally:
            server.stop(timeout=15)
    errors = load["requests"] - load["ok"]
    note = (
        f"{clients} clients x {load['wall_s']:.0f} s, one row per request, 1 uvicorn worker, "
        f"prediction log in SQLite: {load['requests']} requests, {load['throughput_rps']:.0f} req/s, "
        f"{errors} errors ({load['statuses']}); /health under the same load: "
        f"{ref['throughput_rps']:.0f} req/s. Client and server share the cores."
    )
    extra = {"load": load, "reference": ref, "clients": clients, "champion": summary["champion"]}
    reference_name = f"GET /health, same {clients} clients"
    return [
        Figure(
            "B11",
            f"{TITLE}: p50",
            load["p50_ms"],
            "ms",
            ref["p50_ms"],
            reference_name,
            samples=[load["p50_ms"]],
            reference_samples=[ref["p50_ms"]],
            note=note,
            extra=extra,
        ),
        Figure(
            "B11",
            f"{TITLE}: p99",
            load["p99_ms"],
            "ms",
            ref["p99_ms"],
            reference_name,
            samples=[load["p99_ms"]],
            reference_samples=[ref["p99_ms"]],
            extra=extra,
        ),
        Figure(
            "B11",
            f"{TITLE}: requests answered 200",
            load["ok"] / max(1, load["requests"]),
            "",
            limits=[at_least(1.0)],
            samples=[load["ok"] / max(1, load["requests"])],
            note=f"{errors} errors of {load['requests']} requests",
            extra={"statuses": load["statuses"]},
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.api_load``: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--reference-seconds", type=float, default=20.0)
    args = parser.parse_args(argv)
    figures = bench_b11(clients=args.clients, seconds=args.seconds, reference_seconds=args.reference_seconds)
    print(json.dumps([f.to_dict() for f in figures], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
