"""B12: batch inference of 1M rows (what the `batch_inference` DAG task runs), time and peak memory.

Set-up (not timed): an embedded home in a temporary folder, the penguins champion trained there
with ``mlstack.lifecycle.run_all``, and 1M synthetic penguin rows (``mlstack generate``, seeded)
written as CSV under the data root, with one row in 10 000 broken on purpose (an unknown island).

* **B12 wall.** ``mlstack.serving.batch_inference.run_batch_inference`` in a fresh child process:
  read the CSV through the source allowlist, check every row with the serving rules, score the
  valid ones in chunks (MLSTACK_BATCH_CHUNK_SIZE), stream them to Parquet with prediction ids,
  write the report and the refused rows, and append every prediction to the prediction log
  (SQLite on embedded defaults; shadow off). Reference: raw ``predict_proba`` of the same model on
  the same rows, already read and cast, in its own child (the floor any scoring pays).
* **B12 peak memory.** The child's own peak RSS (``wait4``), imports and the model included.
  Target: <= 2 GiB. Reference: the raw child's peak.

``python -m benchmarks.batch [--rows N] [--repeats N]`` prints the figures as JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import GIB, PYTHON, ROOT, Figure, at_most, median, run_child

ROWS = 1_000_000
LIMIT_GIB = 2.0
BROKEN_EVERY = 10_000


def _env(home: Path) -> dict[str, str]:
    env = {
        k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "MLFLOW_TRACKING", "AIRFLOW"))
    }
    env.update({"MLSTACK_HOME": str(home), "MLSTACK_SHADOW_SHARE": "0", "PYTHONWARNINGS": "ignore"})
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p)
    return env


def _child(mode: str, home: Path, *args: str) -> dict[str, Any]:
    run = run_child(
        [PYTHON, "-m", "benchmarks.batch", "--worker", mode, *args], env=_env(home), cwd=home.parent
    )
    if not run.ok:
        raise RuntimeError(f"benchmarks.batch {mode} failed:\n{run.tail()}")
    return {**run.last_json(), "wall_s": run.wall_s, "max_rss_bytes": run.max_rss_bytes}


def _prepare(rows: int) -> dict[str, Any]:
    from mlstack import lifecycle
    from mlstack.config import load_settings
    from mlstack.data.synthetic import generate

    ctx = lifecycle.context(load_settings(), "penguins", trusted_caller=True)
    lifecycle.run_all(ctx)
    frame = generate(rows, seed=12, spec="penguins").astype({"island": object})
    frame.loc[frame.index % BROKEN_EVERY == 0, "island"] = "Atlantis"
    folder = Path(ctx.settings.resolved_data_root) / "incoming"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "bench-batch.csv"
    frame.to_csv(path, index=False)
    return {"path": str(path), "bytes": path.stat().st_size}


def _score(path: str) -> dict[str, Any]:
    from mlstack import lifecycle
    from mlstack.config import load_settings
    from mlstack.serving.batch_inference import run_batch_inference

    ctx = lifecycle.context(load_settings(), "penguins")
    started = time.perf_counter()
    result = run_batch_inference(ctx.settings, ctx.spec, path, f"bench-{time.time_ns()}", shadow=False)
    seconds = time.perf_counter() - started
    return {
        "seconds": seconds,
        "rows": result.rows,
        "scored": result.scored,
        "invalid": result.invalid,
        "logged": result.logged,
        "chunk_size": ctx.settings.batch_chunk_size,
    }


def _raw(path: str) -> dict[str, Any]:
    import pandas as pd

    from mlstack import lifecycle
    from mlstack.config import load_settings
    from mlstack.serving.inputs import check_rows
    from mlstack.serving.loader import ModelServer

    ctx = lifecycle.context(load_settings(), "penguins")
    loaded = ModelServer(ctx.settings, ctx.spec).current()
    frame = pd.read_csv(path)
    valid, _ = check_rows(frame[ctx.spec.feature_names], ctx.spec)
    started = time.perf_counter()
    loaded.model.predict_proba(valid)
    return {"seconds": time.perf_counter() - started, "rows": len(valid)}


def bench_b12(*, quick: bool = True, repeats: int = 3, rows: int = ROWS, log=print) -> list[Figure]:
    """B12 figures: wall time against raw predict, and peak memory against the 2 GiB target."""
    workdir = Path(tempfile.mkdtemp(prefix="mlstack-bench-b12-"))
    home = workdir / "home"
    home.mkdir()
    try:
        log(f"B12: training the champion and writing {rows:,} rows")
        prepared = _child("prepare", home, "--rows", str(rows))
        runs, raws = [], []
        for i in range(max(1, repeats)):
            log(f"B12: batch inference run {i + 1}/{repeats}")
            runs.append(_child("score", home, "--path", prepared["path"]))
            raws.append(_child("raw", home, "--path", prepared["path"]))
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    label = f"{rows // 1_000_000}M" if rows >= 1_000_000 else f"{rows // 1000}k"
    seconds = [r["seconds"] for r in runs]
    raw_seconds = [r["seconds"] for r in raws]
    peaks = [r["max_rss_bytes"] / GIB for r in runs]
    raw_peaks = [r["max_rss_bytes"] / GIB for r in raws]
    first = runs[0]
    extra = {
        "rows": first["rows"],
        "scored": first["scored"],
        "invalid": first["invalid"],
        "logged": first["logged"],
        "chunk_size": first["chunk_size"],
        "csv_bytes": prepared["bytes"],
        "rows_per_s": round(first["rows"] / median(seconds), 1) if median(seconds) else None,
        "child_wall_s": [round(r["wall_s"], 2) for r in runs],
        "load_avg_1m_after": round(os.getloadavg()[0], 1),  # a shared machine slows every figure
    }
    return [
        Figure(
            "B12",
            f"batch inference, {label} rows (read, check, score, Parquet, prediction log): wall",
            median(seconds),
            "s",
            median(raw_seconds),
            "raw predict_proba on the same rows",
            samples=seconds,
            reference_samples=raw_seconds,
            note="report only; the prediction log write (SQLite, one JSON row per prediction) dominates",
            extra=extra,
        ),
        Figure(
            "B12",
            f"batch inference, {label} rows: peak memory",
            median(peaks),
            "GiB",
            median(raw_peaks),
            "raw predict child (CSV read + model)",
            limits=[at_most(LIMIT_GIB, "GiB")],
            samples=peaks,
            reference_samples=raw_peaks,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--worker", choices=["prepare", "score", "raw"])
    parser.add_argument("--rows", type=int, default=ROWS)
    parser.add_argument("--path")
    parser.add_argument("--repeats", type=int, default=1)
    args = parser.parse_args(argv)
    if args.worker == "prepare":
        print(json.dumps(_prepare(args.rows)))
    elif args.worker == "score":
        print(json.dumps(_score(args.path)))
    elif args.worker == "raw":
        print(json.dumps(_raw(args.path)))
    else:
        figures = bench_b12(repeats=args.repeats, rows=args.rows, log=lambda m: print(m, file=sys.stderr))
        print(json.dumps([f.to_dict() for f in figures], indent=2, default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
