"""B3 (the lifecycle as data grows) and the in-process ``mlstack run`` reference of B1/B2.

Measurements run in child processes (``python -m benchmarks.lifecycle worker ...``): one per
side and size, doing that size's ``repeats`` runs, so its peak RSS (``os.wait4``) is that size's own
and one size cannot leave memory behind for the next.

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


def _lifecycle(source: str, runs: int) -> dict[str, Any]:
    """``runs`` lifecycles of one batch, each on a fresh home (store created before its clock)."""
    import_s = _preload()
    from mlstack import pipeline, tracking
    from mlstack.config import load_settings

    base = load_settings().home_dir
    out: dict[str, Any] = {"import_s": import_s, "runs": []}
    for i in range(runs):
        # tracking_uri=None: mlflow.set_tracking_uri exported the previous run's store.
        ctx = pipeline.context(load_settings(home=base / f"run-{i}", tracking_uri=None))
        started = time.perf_counter()
        tracking.experiment_id(ctx.settings, ctx.spec)  # creates the store: a one-time cost
        store_init_s = time.perf_counter() - started

        steps: dict[str, float] = {}
        wall, cpu = time.perf_counter(), time.process_time()

        def step(name: str, fn, *args, ctx=ctx, steps=steps):
            t = time.perf_counter()
            result = fn(ctx, *args)
            steps[name] = time.perf_counter() - t
            return result

        ingested = step("ingest", pipeline.ingest, source)
        step("validate", pipeline.validate, ingested["dataset_id"])
        trained = step("train", pipeline.train, ingested["dataset_id"], ingested["snapshot_uri"])
        step("evaluate", pipeline.evaluate, trained["run_id"])
        step("register", pipeline.register, trained["run_id"])
        out["runs"].append(
            {
                "total_s": time.perf_counter() - wall,
                "cpu_s": time.process_time() - cpu,  # every thread of the process
                "steps": steps,
                "store_init_s": store_init_s,
            }
        )
        out.update(
            rows=ingested["rows"], train_rows=trained["train_rows"], holdout_rows=trained["holdout_rows"]
        )
        shutil.rmtree(ctx.settings.home_dir, ignore_errors=True)
    return out


def _reference(source: str, runs: int) -> dict[str, Any]:
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
    estimator = settings.estimator or spec.estimator
    hyperparams = {**spec.hyperparams, **settings.hyperparams}
    out: dict[str, Any] = {"import_s": import_s, "runs": []}
    for _ in range(runs):
        raw = pd.read_parquet(source)
        frame = conform(raw, spec)
        train_frame, holdout = split(frame, spec, dataset_id_of(raw), settings.holdout_fraction)
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
        del raw, frame

        wall, cpu = time.perf_counter(), time.process_time()
        fit(model, features, target, settings.train_n_jobs, hyperparams)
        fit_s = time.perf_counter() - wall
        model.predict(holdout_features)
        total_s = time.perf_counter() - wall
        out["runs"].append(
            {
                "total_s": total_s,
                "cpu_s": time.process_time() - cpu,
                "fit_s": fit_s,
                "predict_s": total_s - fit_s,
            }
        )
        out.update(train_rows=len(train_frame), holdout_rows=len(holdout), estimator=str(model.steps[-1][1]))
        del model, features, target, holdout_features, train_frame, holdout
    return out


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
    work.add_argument("--runs", type=int, default=3, help="how many runs in this process")
    args = parser.parse_args(argv)

    if args.command == "generate":
        out = _generate(args.rows, args.seed, args.out)
    elif args.mode == "lifecycle":
        out = _lifecycle(args.source, args.runs)
    elif args.mode == "reference":
        out = _reference(args.source, args.runs)
    else:
        out = _run_all(args.runs, args.source)
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------------------------
# the benchmark (parent side)
# --------------------------------------------------------------------------------------------


def measure_size(rows: int, batch: Path, workdir: Path, repeats: int) -> dict[str, Any]:
    """``repeats`` lifecycle runs in one child, then ``repeats`` reference runs in another.

    One child per side and size: imports are paid once per child, and the child's peak RSS is the
    peak over its runs of the same size.
    """
    data: dict[str, Any] = {"rows": rows}
    for mode in ("lifecycle", "reference"):
        home = workdir / f"home-{rows}-{mode}"
        args = ["worker", mode, "--source", str(batch), "--runs", str(repeats)]
        child, out = _worker(args, worker_env(home), workdir)
        out.update(peak_rss=child.max_rss_bytes, process_wall_s=child.wall_s)
        data[mode] = out
        shutil.rmtree(home, ignore_errors=True)
    return data


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
    life_runs, ref_runs = life["runs"], ref["runs"]
    label = _label(rows)
    steps = {s: round(median([run["steps"][s] for run in life_runs]) or 0, 3) for s in STEPS}
    extra = {
        "steps_median_s": steps,
        "cpu_s": [round(run["cpu_s"], 2) for run in life_runs],
        "reference_cpu_s": [round(run["cpu_s"], 2) for run in ref_runs],
        "reference_fit_s": [round(run["fit_s"], 2) for run in ref_runs],
        "reference_predict_s": [round(run["predict_s"], 2) for run in ref_runs],
        "reference_estimator": ref["estimator"],
        "train_rows": life["train_rows"],
        "holdout_rows": life["holdout_rows"],
        "import_s": round(life["import_s"], 2),
        "store_init_s": [round(run["store_init_s"], 2) for run in life_runs],
        "peak_rss_mib": round(life["peak_rss"] / MIB),
        "reference_peak_rss_mib": round(ref["peak_rss"] / MIB),
    }
    top = max(steps, key=lambda s: steps[s])
    wall = Figure(
        id="B3",
        name=f"ingest..register, {label} rows: wall",
        value=median([run["total_s"] for run in life_runs]),
        unit="s",
        reference=median([run["total_s"] for run in ref_runs]),
        reference_name="fit+predict alone",
        limits=[at_most(WALL_LIMIT_1M_S, "s")] if rows == 1_000_000 else [],
        samples=[run["total_s"] for run in life_runs],
        reference_samples=[run["total_s"] for run in ref_runs],
        note=f"slowest step: {top} {steps[top]:.1f}s; step medians {steps}",
        extra=extra,
    )
    rss = Figure(
        id="B3",
        name=f"ingest..register, {label} rows: peak RSS",
        value=life["peak_rss"] / GIB,
        unit="GiB",
        reference=ref["peak_rss"] / GIB,
        reference_name="fit+predict alone",
        limits=[at_most(RSS_LIMIT_1M / GIB, "GiB")] if rows == 1_000_000 else [],
        samples=[life["peak_rss"] / GIB],
        reference_samples=[ref["peak_rss"] / GIB],
        note=f"peak resident set of the worker process over its {len(life_runs)} run(s), imports included",
    )
    return [wall, rss] if rows >= 100_000 else [wall]


def _median_total(side: dict[str, Any]) -> float:
    return median([run["total_s"] for run in side["runs"]]) or 0.0


def _growth_figure(small: dict[str, Any], big: dict[str, Any]) -> Figure:
    life = _median_total(big["lifecycle"]) / (_median_total(small["lifecycle"]) or 1)
    ref = _median_total(big["reference"]) / (_median_total(small["reference"]) or 1)
    return Figure(
        id="B3",
        name="wall growth 100k -> 1M rows",
        value=life,
        unit="x",
        reference=ref,
        reference_name="fit+predict growth",
        limits=[at_most(GROWTH_LIMIT, "x")],
        samples=[life],
        note="median wall at 1M / median wall at 100k (10x the rows)",
    )


if __name__ == "__main__":
    sys.exit(main())
