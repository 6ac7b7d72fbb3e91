"""B4-B6: serving the champion through ``mlstack.serving`` (what the Streamlit app and the CLI use).

One set-up for the three figures (``bench_serving``): PostgreSQL + S3 (SeaweedFS) + ``mlflow server
--serve-artifacts`` started by ``devstack``, and the penguins champion trained on it
with ``mlstack.lifecycle.run_all`` (the real lifecycle, artifacts in S3 behind the server).

* **B4 cold load.** A fresh child process per sample: imports (mlflow, scikit-learn, mlstack) are
  done and timed apart first, then the timer covers ``ModelServer.current()``: resolve
  ``@champion``, download the model through the server from S3, load the skops file with
  mlstack's trusted types, and the ONNX form when it passed parity. Reference, in the same child
  afterwards: the skops load alone of the same model directory already on local disk.
  Target: <= 3 s.
* **B5 warm single prediction.** ``ModelServer.predict(row)`` on one dict row (input checks, casting,
  scoring, result object), after warm-up, in-process: p50 and p99 over ``n`` calls. It is answered
  by the version's ONNX form when its parity tag passed. Reference: the same path answered by the
  skops pipeline (and, in the note, raw ``model.predict`` on the prepared one-row frame), all
  interleaved. Target: p50 <= 10 ms.
* **B6 batch throughput.** ``mlstack.serving.batch.score_batch`` on 100k rows (synthetic penguins, as a
  DataFrame read from CSV would be: checks per column, chunked scoring, result frame with
  probabilities; no prediction-log write, reported apart) in rows/s, interleaved with raw
  ``model.predict`` on the prepared frame; medians. Target: >= 0.8x raw.

Run alone: ``python -m benchmarks.serving`` (or ``make bench-serving``); the suite calls
``bench_serving(quick=..., repeats=...)``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import (
    PYTHON,
    ROOT,
    Figure,
    at_most,
    median,
    ratio_at_least,
    run_child,
    unavailable,
)

MODEL = "bench-serving-penguins"
B4_LIMIT_S = 3.0
B5_P50_LIMIT_MS = 10.0
B6_RATIO = 0.8
B6_ROWS = 100_000
TITLES = {
    "B4": "champion cold load from the registry (S3-backed MLflow)",
    "B5": "single prediction, warm, through mlstack.serving",
    "B6": "batch scoring throughput, 100k rows",
}


def _log(message: str) -> None:
    print(f"[bench serving {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def _settings(home: Path, tracking_uri: str):
    from mlstack.config import load_settings

    return load_settings(
        home=home,
        tracking_uri=tracking_uri,
        model_name=MODEL,
        experiment=MODEL,
        prediction_log_url=None,
        data_root=None,
        alias_refresh_seconds=30.0,
    )


def _client_env(home: Path, tracking_uri: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "MLFLOW_TRACKING"))}
    env.update(
        {
            "MLSTACK_HOME": str(home),
            "MLFLOW_TRACKING_URI": tracking_uri,
            "MLSTACK_MODEL_NAME": MODEL,
            "MLSTACK_EXPERIMENT": MODEL,
            "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p),
        }
    )
    return env


# --------------------------------------------------------------------------------------------
# the child process of B4
# --------------------------------------------------------------------------------------------


def _cold_load_worker() -> None:
    """Print one JSON line: import_s, load_s (registry, cold), local_load_s (reference)."""
    started = time.perf_counter()
    # Module imports are process start-up, paid once (the app pays them on its first page load):
    # timed apart. They include the model flavour and its deserializer (MLflow 3 saves
    # scikit-learn models with skops, whose import alone takes seconds here).
    import importlib

    import mlflow

    for module in (
        "onnxruntime",
        "skops.io",
        "sklearn.compose",
        "sklearn.ensemble",
        "sklearn.impute",
        "sklearn.pipeline",
        "sklearn.preprocessing",
    ):
        importlib.import_module(module)

    from mlstack.config import load_settings
    from mlstack.data.spec import load_spec
    from mlstack.serving import loader

    settings, spec = load_settings(), load_spec("penguins")
    import_s = time.perf_counter() - started

    server = loader.ModelServer(settings, spec)
    t0 = time.perf_counter()
    loaded = server.current()  # resolve @champion + download through the server + unpickle
    load_s = time.perf_counter() - t0

    from mlstack.model.artifact import load_skops, skops_file

    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp:
        local = mlflow.artifacts.download_artifacts(f"models:/{loaded.name}/{loaded.version}", dst_path=tmp)
        t0 = time.perf_counter()
        load_skops(skops_file(Path(local), "local copy"), "local copy")
        local_load_s = time.perf_counter() - t0
    print(json.dumps({"import_s": import_s, "load_s": load_s, "local_load_s": local_load_s}))


# --------------------------------------------------------------------------------------------
# measurements
# --------------------------------------------------------------------------------------------


def _b4(home: Path, tracking_uri: str, repeats: int) -> Figure:
    loads, refs, imports = [], [], []
    for _ in range(max(1, repeats)):
        child = run_child(
            [PYTHON, "-m", "benchmarks.serving", "cold-load-worker"],
            env=_client_env(home, tracking_uri),
            cwd=home,
            timeout=600,
        )
        if not child.ok:
            raise RuntimeError(f"cold-load worker failed ({child.returncode}):\n{child.tail()}")
        out = child.last_json()
        loads.append(out["load_s"])
        refs.append(out["local_load_s"])
        imports.append(out["import_s"])
    return Figure(
        id="B4",
        name=TITLES["B4"],
        value=median(loads),
        unit="s",
        reference=median(refs),
        reference_name="the skops load alone, from local disk",
        limits=[at_most(B4_LIMIT_S, "s")],
        samples=loads,
        reference_samples=refs,
        note=(
            f"fresh process per sample; resolve @champion + download via `mlflow server "
            f"--serve-artifacts` (SeaweedFS S3) + skops load with mlstack's type check + the ONNX form "
            f"(download, sha256, session); module imports "
            f"(mlflow, onnxruntime, skops, scikit-learn, mlstack) timed apart: median "
            f"{median(imports):.1f} s, paid once per process"
        ),
        extra={"import_s": imports},
    )


def _b5(settings, spec, calls: int) -> Figure:
    import dataclasses

    import numpy as np

    from mlstack.serving.inputs import prepare_inputs
    from mlstack.serving.loader import ModelServer, load_version

    row = {
        "island": "Biscoe",
        "bill_length_mm": 47.5,
        "bill_depth_mm": 14.8,
        "flipper_length_mm": 217.0,
        "body_mass_g": 5200.0,
        "sex": "female",
        "year": 2008,
    }
    server = ModelServer(settings, spec)  # the ONNX form when the version's parity tag passed
    loaded = server.current()
    # The same version through the same path, answered by the skops pipeline.
    skops_server = ModelServer(
        settings, spec, loader=lambda s, n, v: dataclasses.replace(load_version(s, n, v), fast=None)
    )
    model = loaded.model
    frame = prepare_inputs(row, spec)
    for _ in range(20):  # warm-up: caches, first-call paths
        server.predict(row)
        skops_server.predict(row)
        model.predict(frame)
    served, skops, raw = [], [], []
    for _ in range(calls):  # interleaved, so machine noise hits all alike
        t0 = time.perf_counter()
        server.predict(row)
        served.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        skops_server.predict(row)
        skops.append((time.perf_counter() - t0) * 1000)
        t0 = time.perf_counter()
        model.predict(frame)
        raw.append((time.perf_counter() - t0) * 1000)
    p50, p99 = float(np.percentile(served, 50)), float(np.percentile(served, 99))
    skops_p50, skops_p99 = float(np.percentile(skops, 50)), float(np.percentile(skops, 99))
    raw_p50, raw_p99 = float(np.percentile(raw, 50)), float(np.percentile(raw, 99))
    return Figure(
        id="B5",
        name=TITLES["B5"] + f" ({loaded.served_by}, p50)",
        value=p50,
        unit="ms",
        reference=skops_p50,
        reference_name="the same path answered by the skops pipeline",
        limits=[at_most(B5_P50_LIMIT_MS, "ms")],
        samples=[round(x, 3) for x in served],
        reference_samples=[round(x, 3) for x in skops],
        note=(
            f"served by {loaded.served_by}{' (' + loaded.fast_note + ')' if loaded.fast_note else ''}: "
            f"p99 {p99:.2f} ms; skops pipeline p50 {skops_p50:.2f} / p99 {skops_p99:.2f} ms; raw "
            f"pipeline model.predict p50 {raw_p50:.2f} / p99 {raw_p99:.2f} ms; {calls} calls each, "
            f"in-process: input checks + scoring + result ({_describe(model)})"
        ),
        extra={
            "served_by": loaded.served_by,
            "p50_ms": p50,
            "p99_ms": p99,
            "skops_p50_ms": skops_p50,
            "skops_p99_ms": skops_p99,
            "raw_p50_ms": raw_p50,
            "raw_p99_ms": raw_p99,
            "raw_samples": [round(x, 3) for x in raw],
        },
    )


def _describe(model) -> str:
    """E.g. "RandomForestClassifier, 200 trees, behind a ColumnTransformer"."""
    estimator = model.steps[-1][1] if hasattr(model, "steps") else model
    trees = getattr(estimator, "n_estimators", None)
    head = type(estimator).__name__ + (f", {trees} trees" if trees else "")
    return head + (f", behind a {type(model.steps[0][1]).__name__}" if hasattr(model, "steps") else "")


def _b6(settings, spec, rows: int, repeats: int) -> Figure:
    import io

    import pandas as pd

    from mlstack.data.synthetic import generate
    from mlstack.monitoring.prediction_log import log_predictions
    from mlstack.serving.batch import score_batch
    from mlstack.serving.inputs import check_rows
    from mlstack.serving.loader import ModelServer

    server = ModelServer(settings, spec)
    model = server.current().model
    # As an uploaded CSV arrives: read back from CSV text, outside the timers.
    text = generate(rows, 42, spec)[spec.feature_names].to_csv(index=False)
    batch = pd.read_csv(io.StringIO(text))
    prepared, problems = check_rows(batch, spec)
    assert not problems, problems[:3]
    score_batch(server, batch.head(1000))  # warm-up
    model.predict(prepared.head(1000))
    served, raw = [], []
    for _ in range(max(3, repeats)):
        t0 = time.perf_counter()
        result = score_batch(server, batch)
        served.append(rows / (time.perf_counter() - t0))
        t0 = time.perf_counter()
        model.predict(prepared)
        raw.append(rows / (time.perf_counter() - t0))
    assert len(result.scored) == rows
    # The prediction log write is part of the app's batch page, not of scoring: reported apart.
    t0 = time.perf_counter()
    log_predictions(
        settings, prepared, _as_prediction(result), source="bench-serving"
    )  # SQLite under the bench home
    log_s = time.perf_counter() - t0
    value, reference = statistics.median(served), statistics.median(raw)
    return Figure(
        id="B6",
        name=TITLES["B6"],
        value=value,
        unit="rows/s",
        reference=reference,
        reference_name="raw model.predict on the prepared frame",
        limits=[ratio_at_least(B6_RATIO)],
        samples=[round(x) for x in served],
        reference_samples=[round(x) for x in raw],
        note=(
            f"score_batch = per-column checks + chunked predict_proba (one call per chunk, the "
            f"class is its argmax) + result frame; {rows:,} rows from CSV; writing them to the "
            f"prediction log (SQLite) took {log_s:.1f} s more"
        ),
        extra={"rows": rows, "log_s": log_s},
    )


def _as_prediction(result) -> Any:
    """A Prediction-like object of a BatchResult, for log_predictions."""
    from mlstack.serving.scoring import Prediction

    scored = result.scored
    proba_cols = [c for c in scored.columns if c.startswith("proba_")]
    probabilities = None
    if proba_cols:
        names = [c.removeprefix("proba_") for c in proba_cols]
        probabilities = [dict(zip(names, row, strict=True)) for row in scored[proba_cols].to_numpy().tolist()]
    return Prediction(
        scored["prediction"].tolist(), probabilities, result.name, result.version, result.alias, result.run_id
    )


# --------------------------------------------------------------------------------------------
# entry points
# --------------------------------------------------------------------------------------------


def bench_serving(*, quick: bool = True, repeats: int = 3, ids: list[str] | None = None) -> list[Figure]:
    """B4, B5 and B6 on one S3-backed MLflow server (started here, stopped at the end)."""
    wanted = ids or ["B4", "B5", "B6"]
    try:
        from devstack import ServerUnavailable
        from devstack.mlflow_server import running_stack
    except ImportError as exc:
        return [unavailable(i, TITLES[i], f"devstack cannot be imported (make setup): {exc}") for i in wanted]

    from mlstack import lifecycle
    from mlstack.data.spec import load_spec

    figures: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="bench-serving-") as tmp, contextlib.ExitStack() as stack:
        home = Path(tmp) / "home"
        try:
            _pg, _s3, mlflow_server = stack.enter_context(running_stack())
        except ServerUnavailable as exc:
            return [unavailable(i, TITLES[i], f"servers cannot start: {exc}") for i in wanted]
        settings = _settings(home, mlflow_server.tracking_uri)
        spec = load_spec("penguins")
        _log(f"training the champion on {mlflow_server.tracking_uri}")
        summary = lifecycle.run_all(lifecycle.context(settings, "penguins"))
        if str(summary["champion"]) != str(summary["register"]["version"]):
            raise RuntimeError(f"no champion after training: {summary['gate']}")
        if "B4" in wanted:
            _log("B4 cold load")
            figures.append(_b4(home, mlflow_server.tracking_uri, repeats))
        if "B5" in wanted:
            _log("B5 single prediction")
            figures.append(_b5(settings, spec, 300 if quick else 2000))
        if "B6" in wanted:
            _log("B6 batch throughput")
            figures.append(_b6(settings, spec, B6_ROWS, repeats))
    return figures


def bench_b4(*, quick: bool = True, repeats: int = 3) -> list[Figure]:
    return bench_serving(quick=quick, repeats=repeats, ids=["B4"])


def bench_b5(*, quick: bool = True, repeats: int = 3) -> list[Figure]:
    return bench_serving(quick=quick, repeats=repeats, ids=["B5"])


def bench_b6(*, quick: bool = True, repeats: int = 3) -> list[Figure]:
    return bench_serving(quick=quick, repeats=repeats, ids=["B6"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.serving", description=__doc__.split("\n")[0])
    parser.add_argument("command", nargs="?", default="run", choices=["run", "cold-load-worker"])
    parser.add_argument("--full", action="store_true", help="more calls for B5")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--ids", nargs="*", choices=["B4", "B5", "B6"], help="only these (default all)")
    args = parser.parse_args(argv)
    if args.command == "cold-load-worker":
        _cold_load_worker()
        return 0
    figures = bench_serving(quick=not args.full, repeats=args.repeats, ids=args.ids or None)
    for f in figures:
        ratio = f" ratio {f.ratio:.2f}" if f.ratio is not None else ""
        print(
            f"{f.id} {f.name}: {f.value if f.value is None else round(f.value, 3)} {f.unit} "
            f"(ref {f.reference_name}: {f.reference if f.reference is None else round(f.reference, 3)})"
            f"{ratio} -> {f.verdict}; {f.note}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
