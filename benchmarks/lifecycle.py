"""B3 (the lifecycle as data grows) and the in-process ``mlstack run`` reference of B1/B2.

Measurements run in child processes (``python -m benchmarks.lifecycle worker ...``): one for the
lifecycle runs of every size, one for the reference runs, so imports are paid once per side.
Sizes run smallest first, so the process's peak RSS after a size's runs is that size's peak.

B3, per size (synthetic penguins batches from ``mlstack.data.synthetic.generate``, written to
Parquet beforehand, outside the timer):

* figure: ``lifecycle.ingest -> validate -> train -> evaluate -> register`` on a fresh
  ``MLSTACK_HOME`` (embedded SQLite MLflow). Imports are preloaded and the MLflow store is created
  before the timer starts (one-time costs, reported apart as ``import_s``/``store_init_s``).
* reference: the same rows, the same split, the same scikit-learn Pipeline (built by
  ``mlstack.model.estimator.build`` from the same settings) — ``fit`` + ``predict`` on the holdout
  and nothing else.

The ``run`` worker is the B1/B2 reference: ``mlstack.lifecycle.run_all`` (what ``mlstack run``
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
    from mlstack.airflow.preload import preload

    preload()
    return time.perf_counter() - started


def _peak_rss() -> int:
    """This process's peak resident set so far, in bytes."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def _each_size(measure, sources: Sequence[str], runs: Sequence[int]) -> dict[str, Any]:
    """``measure(source, runs)`` per batch, smallest first; the peak RSS after each batch is that
    size's own (peaks only grow, and every smaller size ran before)."""
    import_s = _preload()
    sizes = []
    for source, n in zip(sources, runs, strict=True):
        out = measure(source, n)
        out["peak_rss"] = _peak_rss()
        sizes.append(out)
    return {"import_s": import_s, "sizes": sizes}


def _lifecycle(source: str, runs: int) -> dict[str, Any]:
    """``runs`` lifecycles of one batch, each on a fresh home (store created before its clock)."""
    from mlstack import lifecycle, tracking
    from mlstack.config import load_settings

    base = load_settings().home_dir / Path(source).stem
    out: dict[str, Any] = {"runs": []}
    for i in range(runs):
        # tracking_uri=None: mlflow.set_tracking_uri exported the previous run's store.
        ctx = lifecycle.context(  # the user's own files, as the CLI reads them
            load_settings(home=base / f"run-{i}", tracking_uri=None), trusted_caller=True
        )
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

        ingested = step("ingest", lifecycle.ingest, source)
        step("validate", lifecycle.validate, ingested["dataset_id"])
        trained = step("train", lifecycle.train, ingested["dataset_id"], ingested["snapshot_uri"])
        step("evaluate", lifecycle.evaluate, trained["run_id"])
        step("register", lifecycle.register, trained["run_id"])
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
    import pandas as pd

    from mlstack.config import load_settings
    from mlstack.data.ingest import dataset_id_of
    from mlstack.data.spec import load_spec
    from mlstack.data.validation import conform
    from mlstack.model.estimator import build, model_inputs
    from mlstack.model.train import fit, split

    settings = load_settings()
    spec = load_spec(settings.dataset)
    estimator = settings.estimator or spec.estimator
    hyperparams = {**spec.hyperparams, **settings.hyperparams}
    out: dict[str, Any] = {"runs": []}
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
    from mlstack import lifecycle, tracking
    from mlstack.config import load_settings

    ctx = lifecycle.context(load_settings(), trusted_caller=True)  # as `mlstack run` reads
    started = time.perf_counter()
    tracking.experiment_id(ctx.settings, ctx.spec)
    store_init_s = time.perf_counter() - started
    samples, steps = [], []
    for _ in range(runs):
        marks: list[tuple[str, float]] = []
        t = time.perf_counter()
        summary = lifecycle.run_all(
            ctx, source, on_step=lambda s, m=marks: m.append((s, time.perf_counter()))
        )
        end = time.perf_counter()
        samples.append(end - t)
        bounds = [*marks, ("end", end)]
        steps.append({name: bounds[i + 1][1] - at for i, (name, at) in enumerate(marks)})
        assert summary["register"]["version"]
    return {"samples": samples, "steps": steps, "import_s": import_s, "store_init_s": store_init_s}


def _generate(sizes: Sequence[int], seed: int, out_dir: str) -> dict[str, Any]:
    """``batch-<rows>.parquet`` per size in ``out_dir``."""
    from mlstack.data.synthetic import generate

    written = {}
    for rows in sizes:
        started = time.perf_counter()
        path = Path(out_dir) / f"batch-{rows}.parquet"
        path.parent.mkdir(parents=True, exist_ok=True)
        frame = generate(rows, seed=seed)
        frame.to_parquet(path, index=False)
        del frame
        written[str(rows)] = {"path": str(path), "seconds": time.perf_counter() - started}
    return written


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.lifecycle")
    sub = parser.add_subparsers(dest="command", required=True)
    gen = sub.add_parser("generate", help="write synthetic batches (Parquet): batch-<rows>.parquet")
    gen.add_argument("--rows", required=True, help="comma list of sizes")
    gen.add_argument("--seed", type=int, default=1)
    gen.add_argument("--out-dir", required=True)
    work = sub.add_parser("worker", help="measurements; prints a JSON line")
    work.add_argument("mode", choices=["lifecycle", "reference", "run"])
    work.add_argument("--source", action="append", default=[], help="batch file(s), smallest first")
    work.add_argument("--runs", default="3", help="runs (per source: comma list)")
    args = parser.parse_args(argv)

    if args.command == "generate":
        print(json.dumps(_generate([int(n) for n in args.rows.split(",")], args.seed, args.out_dir)))
        return 0
    runs = [int(n) for n in str(args.runs).split(",")]
    if args.mode == "run":
        out = _run_all(runs[0], args.source[0] if args.source else None)
    else:
        measure = _lifecycle if args.mode == "lifecycle" else _reference
        out = _each_size(measure, args.source, runs if len(runs) > 1 else runs * len(args.source))
    print(json.dumps(out))
    return 0


# --------------------------------------------------------------------------------------------
# the benchmark (parent side)
# --------------------------------------------------------------------------------------------


def measure(sizes: Sequence[int], runs: Sequence[int], workdir: Path, log=print) -> dict[int, dict[str, Any]]:
    """Every size's lifecycle runs in one child, then every size's reference runs in another.

    One child per side: imports are paid once, sizes run smallest first, and the peak RSS after
    each size is that size's own (the peak over its runs and every smaller size's).
    """
    batches = _worker(["generate", "--rows", ",".join(map(str, sizes)), "--out-dir", str(workdir)],
                      worker_env(workdir), workdir)[1]  # fmt: skip
    sources = [arg for rows in sizes for arg in ("--source", batches[str(rows)]["path"])]
    out: dict[int, dict[str, Any]] = {rows: {"rows": rows} for rows in sizes}
    for mode in ("lifecycle", "reference"):
        log(f"B3: {mode}, {' '.join(f'{_label(r)} x {n}' for r, n in zip(sizes, runs, strict=True))}")
        home = workdir / f"home-{mode}"
        args = ["worker", mode, *sources, "--runs", ",".join(map(str, runs))]
        child, data = _worker(args, worker_env(home), workdir)
        for rows, size in zip(sizes, data["sizes"], strict=True):
            size["import_s"] = data["import_s"]
            out[rows][mode] = size
        log(f"B3: {mode} done in {child.wall_s:.0f}s (peak RSS {child.max_rss_bytes / GIB:.2f} GiB)")
        shutil.rmtree(home, ignore_errors=True)
    return out


def bench_b3(
    *, quick: bool = True, repeats: int = 3, sizes: Sequence[int] | None = None, log=print
) -> list[Figure]:
    sizes = tuple(sorted(sizes or (QUICK_SIZES if quick else FULL_SIZES)))
    # The largest size runs fewer times in full mode (minutes per run).
    runs = [max(1, repeats) if rows <= 1_000_000 else max(1, min(repeats, 2)) for rows in sizes]
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-b3-"))
    try:
        measured = measure(sizes, runs, workdir, log)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    figures: list[Figure] = []
    for rows in sizes:
        figures += _size_figures(rows, measured[rows])
    if 100_000 in measured and 1_000_000 in measured:
        figures.append(_growth_figure(measured[100_000], measured[1_000_000]))
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
        note=(
            "peak resident set of the worker process after this size's runs (imports and smaller "
            "sizes included: peaks only grow)"
        ),
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
