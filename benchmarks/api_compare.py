"""B10: the prediction API (`mlstack serve`) beside `mlflow models serve`, same run, model, payloads.

Set-up (not timed): a penguins champion trained on embedded defaults (`lifecycle.run_all`, SQLite
MLflow under a temporary home; its ONNX form passes parity and is served), then two real server
processes on free loopback ports, one worker each:

- ``mlstack serve`` (bearer token set, prediction log in SQLite under the home, as `make demo`);
- ``mlflow models serve -m models:/<name>@champion --env-manager local``. Its child alone gets
  ``MLFLOW_ALLOW_PICKLE_DESERIALIZATION=true`` (MLflow's pyfunc loader asks for it; mlstack's own
  processes keep it false) and the venv's ``bin`` first on PATH (uvicorn).

Both get the same bytes: MLflow's scoring protocol (``{"dataframe_records": [...]}``) on
``POST /invocations``, which the API also serves. Figures, each beside ``mlflow models serve``:

1. one row, sequential, one keep-alive connection (http.client): p50 and p99;
2. 8 concurrent clients (asyncio httpx, one connection each) for 30 s: throughput and p99
   (quick mode: 10 s per server, said in the note);
3. 1,000-row requests, sequential: rows per second; the floors are the raw
   ``pipeline.predict_proba`` and the ONNX session's ``predict_proba`` on the same 1,000 rows,
   in this process (the target is against the faster one);
4. errors: any answer other than 200 or a failed request, over all of the above.

Client and servers share the machine's two cores. Run alone: ``python -m benchmarks.api_compare``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import json
import math
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import Figure, at_most, ratio_at_least, ratio_at_most, unavailable
from benchmarks.api_load import ROW, TOKEN, _load, _quantile, _serve

TITLE = "prediction API beside `mlflow models serve`"
MLFLOW = "`mlflow models serve`"


def _log(message: str) -> None:
    print(f"[bench api-compare {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _mlflow_serve(home: Path, tracking_uri: str, model_uri: str, port: int, log_dir: Path):
    from devstack.processes import ManagedProcess, venv_tool

    bin_dir = str(Path(venv_tool("mlflow")).parent)
    env = {
        "MLFLOW_TRACKING_URI": tracking_uri,
        # only this child: MLflow's pyfunc loader of the sklearn flavour asks for it
        "MLFLOW_ALLOW_PICKLE_DESERIALIZATION": "true",
        "PATH": f"{bin_dir}{os.pathsep}{os.environ.get('PATH', '')}",
    }
    unset = [v for v in os.environ if v.startswith(("MLSTACK_", "MLFLOW_"))]
    return ManagedProcess(
        "mlflow-models-serve",
        [
            venv_tool("mlflow"),
            "models",
            "serve",
            "-m",
            model_uri,
            "--env-manager",
            "local",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=env,
        unset_env=[v for v in unset if v not in env],
        cwd=home.parent,
        log_dir=log_dir,
    )


class Errors:
    def __init__(self) -> None:
        self.count = 0
        self.seen: dict[str, int] = {}

    def add(self, key: str, n: int = 1) -> None:
        self.count += n
        self.seen[key] = self.seen.get(key, 0) + n


def _post(conn: http.client.HTTPConnection, body: bytes, errors: Errors) -> Any:
    conn.request(
        "POST",
        "/invocations",
        body=body,
        headers={"Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"},
    )
    response = conn.getresponse()
    data = response.read()
    if response.status != 200:
        errors.add(str(response.status))
        return None
    return json.loads(data)


def _sequential(port: int, body: bytes, calls: int, errors: Errors) -> list[float]:
    """Latency of `calls` sequential requests on one keep-alive connection (after 20 warm-ups)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    try:
        for _ in range(20):
            _post(conn, body, Errors())
        latencies = []
        for _ in range(calls):
            started = time.perf_counter()
            try:
                _post(conn, body, errors)
            except (OSError, http.client.HTTPException) as exc:
                errors.add(type(exc).__name__)
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
            latencies.append(time.perf_counter() - started)
        return latencies
    finally:
        conn.close()


def _rows_per_second(port: int, body: bytes, rows: int, requests: int, errors: Errors) -> float:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        answer = _post(conn, body, errors)  # warm-up; also checks the answer's length
        predictions = (answer or {}).get("predictions")
        if predictions is None or len(predictions) != rows:
            errors.add("wrong-length")
        started = time.perf_counter()
        for _ in range(requests):
            _post(conn, body, errors)
        return rows * requests / (time.perf_counter() - started)
    finally:
        conn.close()


def _floor(predict_proba, frame, repeats: int) -> float:
    predict_proba(frame)  # warm-up
    best = math.inf
    for _ in range(repeats):
        started = time.perf_counter()
        predict_proba(frame)
        best = min(best, time.perf_counter() - started)
    return len(frame) / best


def _log_floor(settings, loaded, spec, prepared, repeats: int) -> float:
    """Rows per second of the prediction log write alone (what the API does after scoring each
    request), the same 1,000 rows into a log of its own (SQLite, like the API's here)."""
    from mlstack.monitoring.prediction_log import log_predictions, new_prediction_ids
    from mlstack.serving.plain_rows import CheckedRows
    from mlstack.serving.scoring import predict_with

    own = settings.model_copy(
        update={"prediction_log_url": f"sqlite:///{settings.home_dir / 'log-floor' / 'predictions.db'}"}
    )
    checked = CheckedRows(frame=prepared)
    prediction = predict_with(loaded, checked, spec, "champion")
    return _floor(
        lambda _: log_predictions(
            own, checked.columns, prediction, "bench", new_prediction_ids(len(prepared))
        ),
        prepared,
        repeats,
    )


def _records(frame) -> list[dict[str, Any]]:
    return [
        {k: (None if isinstance(v, float) and math.isnan(v) else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def bench_b10(
    *,
    quick: bool = True,
    repeats: int = 3,
    calls: int | None = None,
    seconds: float | None = None,
    batch_requests: int | None = None,
) -> list[Figure]:
    """B10 figures: the API and `mlflow models serve` on the same model and payloads."""
    from devstack.ports import free_port
    from mlstack import lifecycle
    from mlstack.config import Settings
    from mlstack.data.spec import load_spec
    from mlstack.data.synthetic import generate
    from mlstack.serving.inputs import check_rows
    from mlstack.serving.loader import ModelServer

    calls = calls or (300 if quick else 1000)
    seconds = seconds or (10.0 if quick else 30.0)
    batch_requests = batch_requests or (30 if quick else 100)
    with tempfile.TemporaryDirectory(prefix="mlstack-bench-b10-") as tmp:
        home = Path(tmp) / "home"
        settings = Settings(_env_file=None, home=home, tracking_uri=None)
        _log("training the champion (embedded defaults)")
        lifecycle.run_all(lifecycle.context(settings, "penguins"))
        spec = load_spec("penguins")
        loaded = ModelServer(settings, spec).current()
        name = loaded.name
        frame = generate(1000, 7, spec)[spec.feature_names]
        prepared, problems = check_rows(frame, spec)
        assert not problems, problems[:3]
        one = json.dumps({"dataframe_records": [ROW]}).encode()
        thousand = json.dumps({"dataframe_records": _records(frame)}).encode()

        pipeline_floor = _floor(loaded.model.predict_proba, prepared, max(5, repeats))
        onnx_floor = _floor(loaded.fast.predict_proba, prepared, max(5, repeats)) if loaded.fast else None
        log_floor = _log_floor(settings, loaded, spec, prepared, max(5, repeats))

        api_port, mlflow_port, bare_port = free_port(), free_port(), free_port()
        logs = Path(tmp) / "logs"
        servers = {
            "api": (_serve(home, api_port, logs), api_port, f"http://127.0.0.1:{api_port}/ready"),
            "api-no-log": (
                _serve(home, bare_port, logs, module="benchmarks.api_without_log"),
                bare_port,
                f"http://127.0.0.1:{bare_port}/ready",
            ),
            "mlflow": (
                _mlflow_serve(
                    home, settings.resolved_tracking_uri, f"models:/{name}@champion", mlflow_port, logs
                ),
                mlflow_port,
                f"http://127.0.0.1:{mlflow_port}/ping",
            ),
        }
        results: dict[str, dict[str, Any]] = {}
        errors = {key: Errors() for key in servers}
        for key, (server, port, ready) in servers.items():
            server.start()
            try:
                try:
                    server.wait_http(ready, timeout=180)
                except Exception as exc:
                    log = server.log_path.read_text()[-1500:] if server.log_path.exists() else ""
                    return [unavailable("B10", TITLE, f"{key} server did not get ready: {exc}", log=log)]
                if key == "api-no-log":  # a diagnostic: the 1,000-row figure only
                    _log(f"{key}: 1,000-row requests x {batch_requests}")
                    rps = _rows_per_second(port, thousand, len(frame), batch_requests, errors[key])
                    results[key] = {"rows_per_s": rps}
                    continue
                _log(f"{key}: one row x {calls} sequential")
                seq = _sequential(port, one, calls, errors[key])
                _log(f"{key}: 8 clients x {seconds:.0f} s")
                url = f"http://127.0.0.1:{port}/invocations"
                asyncio.run(_load(url, 2, 1.0, {"dataframe_records": [ROW]}))  # warm-up
                load = asyncio.run(_load(url, 8, seconds, {"dataframe_records": [ROW]}))
                if load["requests"] != load["ok"]:
                    errors[key].add("load", load["requests"] - load["ok"])
                _log(f"{key}: 1,000-row requests x {batch_requests}")
                rps = _rows_per_second(port, thousand, len(frame), batch_requests, errors[key])
                results[key] = {
                    "p50_ms": 1000 * _quantile(seq, 0.50),
                    "p99_ms": 1000 * _quantile(seq, 0.99),
                    "load": load,
                    "rows_per_s": rps,
                }
            finally:
                server.stop(timeout=20)
        if loaded.served_by != "onnx":
            _log(f"note: the API served {loaded.served_by} ({loaded.fast_note})")

    api, ref, bare = results["api"], results["mlflow"], results["api-no-log"]
    faster_floor = max(pipeline_floor, onnx_floor or 0.0)
    floor_name = "ONNX session" if (onnx_floor or 0) >= pipeline_floor else "pipeline"
    extra = {
        "results": results,
        "floors": {"pipeline": pipeline_floor, "onnx": onnx_floor, "log_write": log_floor},
        "served_by": loaded.served_by,
    }
    mode = f"{seconds:.0f} s per server" + (" (quick mode; 30 s in make bench-full)" if quick else "")
    same = (
        f"same model (v{loaded.version}, API served by {loaded.served_by}), same bytes on POST /invocations"
    )
    total_errors = sum(e.count for e in errors.values())
    bound = 1.0 / (1.0 / faster_floor + 1.0 / log_floor)  # rows/s of scoring, then logging
    return [
        Figure(
            "B10",
            f"{TITLE}: one row, sequential, p50",
            api["p50_ms"],
            "ms",
            ref["p50_ms"],
            f"{MLFLOW}, same row: p50",
            limits=[at_most(2.0, "ms"), ratio_at_most(0.2)],
            samples=[api["p50_ms"]],
            reference_samples=[ref["p50_ms"]],
            note=f"{calls} sequential calls on one keep-alive connection each; {same}; the API also "
            "writes each prediction to its log (SQLite), mlflow serve has none",
            extra=extra,
        ),
        Figure(
            "B10",
            f"{TITLE}: one row, sequential, p99",
            api["p99_ms"],
            "ms",
            ref["p99_ms"],
            f"{MLFLOW}: p99",
            samples=[api["p99_ms"]],
            reference_samples=[ref["p99_ms"]],
        ),
        Figure(
            "B10",
            f"{TITLE}: 8 clients, throughput",
            api["load"]["throughput_rps"],
            "req/s",
            ref["load"]["throughput_rps"],
            f"{MLFLOW}, same 8 clients",
            limits=[ratio_at_least(3.0)],
            samples=[api["load"]["throughput_rps"]],
            reference_samples=[ref["load"]["throughput_rps"]],
            note=f"8 asyncio clients, one row per request, {mode}; p99 {api['load']['p99_ms']:.1f} ms "
            f"vs {ref['load']['p99_ms']:.1f} ms",
        ),
        Figure(
            "B10",
            f"{TITLE}: 8 clients, p99",
            api["load"]["p99_ms"],
            "ms",
            ref["load"]["p99_ms"],
            f"{MLFLOW}: p99",
            samples=[api["load"]["p99_ms"]],
            reference_samples=[ref["load"]["p99_ms"]],
        ),
        Figure(
            "B10",
            f"{TITLE}: 1,000-row requests",
            api["rows_per_s"],
            "rows/s",
            faster_floor,
            f"faster floor ({floor_name} predict_proba in-process)",
            limits=[ratio_at_least(0.8)],
            samples=[api["rows_per_s"]],
            reference_samples=[faster_floor],
            note=f"{batch_requests} sequential requests of 1,000 rows; {MLFLOW}: {ref['rows_per_s']:,.0f} rows/s; "
            f"floors: pipeline {pipeline_floor:,.0f} rows/s, ONNX "
            + (f"{onnx_floor:,.0f} rows/s" if onnx_floor else "none (no ONNX form)"),
        ),
        Figure(
            "B10",
            f"{TITLE}: 1,000-row requests beside scoring + logging in-process",
            api["rows_per_s"],
            "rows/s",
            bound,
            "the faster floor followed by the prediction log write of the same rows, in-process",
            samples=[api["rows_per_s"]],
            reference_samples=[bound],
            note=f"log write alone {log_floor:,.0f} rows/s; the API logs every prediction before it "
            "answers, each part of a request while the next is scored (on the second core), so "
            "the answer still waits for the last part's write and the commit; the rest of the gap "
            "is reading, checking and answering JSON over HTTP",
        ),
        Figure(
            "B10",
            f"{TITLE}: 1,000-row requests with no prediction log (diagnostic)",
            bare["rows_per_s"],
            "rows/s",
            faster_floor,
            f"faster floor ({floor_name} predict_proba in-process)",
            samples=[bare["rows_per_s"]],
            reference_samples=[faster_floor],
            note="the same API with its log write taken out by the benchmark "
            "(`benchmarks/api_without_log.py`; not a mode of mlstack) and each request scored in one "
            "call: what reading, parsing, checking and answering JSON over HTTP (and the client's "
            "parse of the answer) leave of the floor, with no log at all",
        ),
        Figure(
            "B10",
            f"{TITLE}: errors (all servers)",
            float(total_errors),
            "",
            limits=[at_most(0)],
            samples=[float(total_errors)],
            note=f"API {errors['api'].seen or 'none'}; {MLFLOW} {errors['mlflow'].seen or 'none'}; "
            f"API with no log {errors['api-no-log'].seen or 'none'}",
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.api_compare``: print the figures as JSON."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--full", action="store_true", help="30 s of load per server, 1,000 calls")
    args = parser.parse_args(argv)
    figures = bench_b10(quick=not args.full)
    print(json.dumps([f.to_dict() for f in figures], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
