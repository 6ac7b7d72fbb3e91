"""B3 (the lifecycle as data grows) and the in-process ``mlstack run`` reference of B1/B2.

Every measurement runs in a child process (``python -m benchmarks.lifecycle worker ...``) so its
peak RSS is its own (``os.wait4``), and so one size cannot leave memory behind for the next.

B3, per size (synthetic penguins batches from ``mlstack.data.synthetic.generate``, written to
Parquet beforehand, outside the timer):

* figure: ``pipeline.ingest -> validate -> train -> evaluate -> register`` on a fresh
  ``MLSTACK_HOME`` (embedded SQLite MLflow). Imports are preloaded and the MLflow store is created
  before the timer starts (one-time costs, reported apart as ``import_s``/``store_init_s``).
* reference: the same rows, the same split, the same scikit-learn Pipeline (built by
  ``mlstack.model.pipeline.build`` from the same settings) — ``fit`` + ``predict`` on the holdout
  and nothing else.

The ``run`` worker is the B1/B2 reference: ``mlstack.pipeline.run_all`` (what ``mlstack run``
calls: the six steps in one process, imports warm) against whatever store the environment names.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from benchmarks import (
    GIB,
    MIB,
    PYTHON,
    ROOT,
    Figure,
    at_most,
    median,
    run_child,
)

QUICK_SIZES = (10_000, 100_000, 1_000_000)
FULL_SIZES = (*QUICK_SIZES, 10_000_000)
STEPS = ("ingest", "validate", "train", "evaluate", "register")
WALL_LIMIT_1M_S = 60.0
RSS_LIMIT_1M = 3 * GIB
GROWTH_LIMIT = 12.0


def _label(rows: int) -> str:
    return f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"


def worker_env(home: Path, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """Environment of a worker: embedded defaults in ``home``, nothing from the caller's MLflow."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "MLFLOW_", "AIRFLOW"))}
    env.update(
        {
            "MLSTACK_HOME": str(home),
            "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
            "PYTHONWARNINGS": "ignore",
            "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
        }
    )
    env.update(extra or {})
    return env


def _worker(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 3600.0):
    child = run_child([PYTHON, "-m", "benchmarks.lifecycle", *args], env=env, cwd=cwd, timeout=timeout)
    if not child.ok:
        raise RuntimeError(f"worker {' '.join(args[:3])} failed ({child.returncode}):\n{child.tail()}")
    return child, child.last_json()


# --------------------------------------------------------------------------------------------
# what the worker processes do
# --------------------------------------------------------------------------------------------


def _preload() -> float:
    started = time.perf_counter()
    from mlstack.orchestration import preload

    preload()
    return time.perf_counter() - started


def _lifecycle(source: str) -> dict[str, Any]:
    import_s = _preload()
    from mlstack import pipeline, tracking
    from mlstack.config import load_settings

    ctx = pipeline.context(load_settings())
    started = time.perf_counter()
    tracking.experiment_id(ctx.settings, ctx.spec)  # creates the store: a one-time cost
    store_init_s = time.perf_counter() - started

    steps: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()

    def step(name: str, fn, *args):
        t = time.perf_counter()
        out = fn(ctx, *args)
        steps[name] = time.perf_counter() - t
        return out

    ingested = step("ingest", pipeline.ingest, source)
    step("validate", pipeline.validate, ingested["dataset_id"])
    trained = step("train", pipeline.train, ingested["dataset_id"], ingested["snapshot_uri"])
    step("evaluate", pipeline.evaluate, trained["run_id"])
    registered = step("register", pipeline.register, trained["run_id"])
    return {
        "total_s": time.perf_counter() - wall,
        "cpu_s": time.process_time() - cpu,
        "steps": steps,
        "import_s": import_s,
        "store_init_s": store_init_s,
        "rows": ingested["rows"],
        "train_rows": trained["train_rows"],
        "holdout_rows": trained["holdout_rows"],
        "version": registered["version"],
    }


def _reference(source: str) -> dict[str, Any]:
    """fit + predict of the platform's own Pipeline on the platform's own split, nothing else."""
    import_s = _preload()
    import pandas as pd

    from mlstack.config import load_settings
    from mlstack.data.ingest import dataset_id_of
    from mlstack.data.spec import load_spec
    from mlstack.data.validation import conform
    from mlstack.model.pipeline import build, model_inputs
    from mlstack.model.train import fit, split

    settings = load_settings()
    spec = load_spec(settings.dataset)
    raw = pd.read_parquet(source)
    frame = conform(raw, spec)
    train_frame, holdout = split(frame, spec, dataset_id_of(raw), settings.holdout_fraction)
    estimator = settings.estimator or spec.estimator
    hyperparams = {**spec.hyperparams, **settings.hyperparams}
    model = build(
        spec,
        estimator,
        hyperparams,
        settings.seed,
        train_rows=len(train_frame),
        max_tree_samples=settings.max_tree_samples,
    )
    features, target = model_inputs(train_frame, spec), train_frame[spec.target]
    holdout_features = model_inputs(holdout, spec)

    wall, cpu = time.perf_counter(), time.process_time()
    fit(model, features, target, settings.train_n_jobs, hyperparams)
    fit_s = time.perf_counter() - wall
    model.predict(holdout_features)
    total_s = time.perf_counter() - wall
    return {
        "total_s": total_s,
        "cpu_s": time.process_time() - cpu,
        "fit_s": fit_s,
        "predict_s": total_s - fit_s,
        "import_s": import_s,
        "train_rows": len(train_frame),
        "holdout_rows": len(holdout),
        "estimator": str(model.steps[-1][1]),
    }


def _run_all(runs: int, source: str | None) -> dict[str, Any]:
    """``mlstack run`` in-process, ``runs`` times (the first creates the champion)."""
    import_s = _preload()
    from mlstack import pipeline, tracking
    from mlstack.config import load_settings

    ctx = pipeline.context(load_settings())
    started = time.perf_counter()
    tracking.experiment_id(ctx.settings, ctx.spec)
    store_init_s = time.perf_counter() - started
    samples, steps = [], []
    for _ in range(runs):
        marks: list[tuple[str, float]] = []
        t = time.perf_counter()
        summary = pipeline.run_all(ctx, source, on_step=lambda s, m=marks: m.append((s, time.perf_counter())))
        end = time.perf_counter()
        samples.append(end - t)
        bounds = [*marks, ("end", end)]
        steps.append({name: bounds[i + 1][1] - at for i, (name, at) in enumerate(marks)})
        assert summary["register"]["version"]
    return {"samples": samples, "steps": steps, "import_s": import_s, "store_init_s": store_init_s}


def _generate(rows: int, seed: int, out: str) -> dict[str, Any]:
    from mlstack.data.synthetic import generate

    started = time.perf_counter()
    frame = generate(rows, seed=seed)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(out, index=False)
    return {"rows": len(frame), "seconds": time.perf_counter() - started, "bytes": Path(out).stat().st_size}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lifecycle")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write a synthetic batch (Parquet)")
    gen.add_argument("--rows", type=int, required=True)
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--out", required=True)
    work = sub.add_parser("worker", help="one measurement; prints a JSON line")
    work.add_argument("mode", choices=["lifecycle", "reference", "run"])
    work.add_argument("--source", help="batch file (lifecycle/reference); run: default source")
    work.add_argument("--runs", type=int, default=3, help="run: how many `mlstack run`s")
    args = parser.parse_args(argv)

    if args.command == "generate":
        out = _generate(args.rows, args.seed, args.out)
    elif args.mode == "lifecycle":
        out = _lifecycle(args.source)
    elif args.mode == "reference":
        out = _reference(args.source)
    else:
        out = _run_all(args.runs, args.source)
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------------------------
# the benchmark (parent side)
# --------------------------------------------------------------------------------------------


def measure_size(rows: int, batch: Path, workdir: Path, repeats: int) -> dict[str, Any]:
    """``repeats`` lifecycle runs and ``repeats`` reference runs, interleaved, for one size."""
    life, ref = [], []
    for i in range(repeats):
        home = workdir / f"home-{rows}-{i}"
        child, out = _worker(["worker", "lifecycle", "--source", str(batch)], worker_env(home), workdir)
        out.update(peak_rss=child.max_rss_bytes, process_wall_s=child.wall_s)
        life.append(out)
        shutil.rmtree(home, ignore_errors=True)
        child, out = _worker(["worker", "reference", "--source", str(batch)], worker_env(home), workdir)
        out.update(peak_rss=child.max_rss_bytes, process_wall_s=child.wall_s)
        ref.append(out)
        shutil.rmtree(home, ignore_errors=True)
    return {"rows": rows, "lifecycle": life, "reference": ref}


def bench_b3(
    *, quick: bool = True, repeats: int = 3, sizes: Sequence[int] | None = None, log=print
) -> list[Figure]:
    sizes = tuple(sizes or (QUICK_SIZES if quick else FULL_SIZES))
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-b3-"))
    figures: list[Figure] = []
    measured: dict[int, dict[str, Any]] = {}
    try:
        for rows in sizes:
            batch = workdir / f"batch-{rows}.parquet"
            _worker(["generate", "--rows", str(rows), "--out", str(batch)], worker_env(workdir), workdir)
            # The largest size runs fewer times in full mode (minutes per run).
            n = repeats if rows <= 1_000_000 else max(1, min(repeats, 2))
            log(f"B3: {_label(rows)} rows x {n} (lifecycle + reference)")
            measured[rows] = data = measure_size(rows, batch, workdir, n)
            batch.unlink(missing_ok=True)
            figures += _size_figures(rows, data)
        if 100_000 in measured and 1_000_000 in measured:
            figures.append(_growth_figure(measured[100_000], measured[1_000_000]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return figures


def _size_figures(rows: int, data: dict[str, Any]) -> list[Figure]:
    life, ref = data["lifecycle"], data["reference"]
    label = _label(rows)
    steps = {s: round(median([run["steps"][s] for run in life]) or 0, 3) for s in STEPS}
    extra = {
        "steps_median_s": steps,
        "cpu_s": [round(run["cpu_s"], 2) for run in life],
        "reference_fit_s": [round(run["fit_s"], 2) for run in ref],
        "reference_predict_s": [round(run["predict_s"], 2) for run in ref],
        "reference_estimator": ref[0]["estimator"],
        "train_rows": life[0]["train_rows"],
        "holdout_rows": life[0]["holdout_rows"],
        "import_s": round(median([run["import_s"] for run in life]) or 0, 2),
        "store_init_s": round(median([run["store_init_s"] for run in life]) or 0, 2),
        "peak_rss_mib": [round(run["peak_rss"] / MIB) for run in life],
        "reference_peak_rss_mib": [round(run["peak_rss"] / MIB) for run in ref],
    }
    top = max(steps, key=steps.get)
    wall = Figure(
        id="B3",
        name=f"ingest..register, {label} rows: wall",
        value=median([run["total_s"] for run in life]),
        unit="s",
        reference=median([run["total_s"] for run in ref]),
        reference_name="fit+predict alone",
        limits=[at_most(WALL_LIMIT_1M_S, "s")] if rows == 1_000_000 else [],
        samples=[run["total_s"] for run in life],
        reference_samples=[run["total_s"] for run in ref],
        note=f"slowest step: {top} {steps[top]:.1f}s; steps {steps}",
        extra=extra,
    )
    rss = Figure(
        id="B3",
        name=f"ingest..register, {label} rows: peak RSS",
        value=median([run["peak_rss"] for run in life]) / GIB,
        unit="GiB",
        reference=median([run["peak_rss"] for run in ref]) / GIB,
        reference_name="fit+predict alone",
        limits=[at_most(RSS_LIMIT_1M / GIB, "GiB")] if rows == 1_000_000 else [],
        samples=[run["peak_rss"] / GIB for run in life],
        reference_samples=[run["peak_rss"] / GIB for run in ref],
        note="peak resident set of the worker process (imports included)",
    )
    return [wall, rss] if rows >= 100_000 else [wall]


def _growth_figure(small: dict[str, Any], big: dict[str, Any]) -> Figure:
    life = (median([r["total_s"] for r in big["lifecycle"]]) or 0) / (
        median([r["total_s"] for r in small["lifecycle"]]) or 1
    )
    ref = (median([r["total_s"] for r in big["reference"]]) or 0) / (
        median([r["total_s"] for r in small["reference"]]) or 1
    )
    return Figure(
        id="B3",
        name="wall growth 100k -> 1M rows",
        value=life,
        unit="x",
        reference=ref,
        reference_name="fit+predict growth",
        limits=[at_most(GROWTH_LIMIT, "x")],
        note="median wall at 1M / median wall at 100k (10x the rows)",
    )


if __name__ == "__main__":
    sys.exit(main())
