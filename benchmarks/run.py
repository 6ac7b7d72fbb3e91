"""Run the performance suite and write one table: ``python -m benchmarks.run [--full] [--only B1,B3]``.

Writes ``benchmarks/results/<timestamp>.json`` (every sample, note and environment detail) and
``benchmarks/results/latest.md`` (the table), and prints the table. Exit code 0 whatever the
figures are: a missed target is a ``FAIL`` row, never a failed command (``--strict`` exits 1 when a
target is missed, for people who want that locally).
"""

from __future__ import annotations

import argparse
import importlib
import json
import os
import platform
import re
import subprocess
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from benchmarks import RESULTS, ROOT, Figure, fmt_value, unavailable

# id -> (title, module, function candidates). A module that is not there yet, or a function that
# is missing, becomes a "not available" row naming what is missing.
CATALOGUE: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "B1": ("training DAG trigger-to-success, live Airflow services", "benchmarks.airflow", ("bench_b1",)),
    "B2": ("`airflow dags test` of the training DAG", "benchmarks.airflow", ("bench_b2",)),
    "B3": ("ingest..register at 10k/100k/1M rows", "benchmarks.lifecycle", ("bench_b3",)),
    "B4": ("champion cold load from the registry (S3-backed MLflow)", "benchmarks.serving", ("bench_b4",)),
    "B5": ("single prediction, warm, through mlstack.serving", "benchmarks.serving", ("bench_b5",)),
    "B6": ("batch scoring throughput, 100k rows", "benchmarks.serving", ("bench_b6",)),
    "B7": ("drift check, 1M rows x 10 columns", "benchmarks.drift", ("bench_b7",)),
    "B8": ("native services (MLflow + Airflow) start to healthy", "benchmarks.airflow", ("bench_b8",)),
    "B9": ("compose stack `up --wait` to healthy", "benchmarks.stack", ("bench_b9",)),
    "B10": ("prediction API beside `mlflow models serve`", "benchmarks.api_compare", ("bench_b10",)),
    "B11": ("prediction API under load (50 clients x 60 s)", "benchmarks.api_load", ("bench_b11",)),
    "B12": ("batch inference of 1M rows: time and peak memory", "benchmarks.batch", ("bench_b12",)),
    "B13": (
        "training DAG in the compose stack beside the native services",
        "benchmarks.stack_dag",
        ("bench_b13",),
    ),
    "B14": ("staleness study: quality against age, penguins by year", "benchmarks.staleness", ("bench_b14",)),
}
# Benchmarks that share expensive set-up run together: one call returns figures for all of them.
GROUPS: dict[frozenset[str], tuple[str, str]] = {
    frozenset({"B4", "B5", "B6"}): ("benchmarks.serving", "bench_serving"),
}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def resolve(module_name: str, candidates: Sequence[str]) -> tuple[Callable[..., Any] | None, str]:
    """The benchmark function, or None and why it is not there."""
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name == module_name:
            return None, f"{module_name.replace('.', '/')}.py is not written yet"
        return None, f"{module_name} cannot be imported: {exc}"
    except Exception as exc:  # a module under construction by another helper
        return None, f"{module_name} cannot be imported: {type(exc).__name__}: {exc}"
    for name in candidates:
        fn = getattr(module, name, None)
        if callable(fn):
            return fn, ""
    return None, f"{module_name} has no {' / '.join(candidates)}() yet"


def _as_figures(out: Any) -> list[Figure]:
    if out is None:
        return []
    if isinstance(out, Figure):
        return [out]
    if isinstance(out, dict) and "id" in out:
        return [Figure(**out)]
    return [f if isinstance(f, Figure) else Figure(**f) for f in out]


def call(fn: Callable[..., Any], ids: Sequence[str], *, quick: bool, repeats: int) -> list[Figure]:
    started = time.perf_counter()
    try:
        kwargs: dict[str, Any] = {"quick": quick, "repeats": repeats}
        if _accepts(fn, "ids"):
            kwargs["ids"] = list(ids)
        figures = _as_figures(fn(**kwargs))
    except Exception as exc:
        log(f"{'/'.join(ids)} raised {type(exc).__name__}: {exc}")
        detail = traceback.format_exc(limit=6)
        return [
            unavailable(
                i, CATALOGUE[i][0], f"the benchmark failed: {type(exc).__name__}: {exc}", trace=detail
            )
            for i in ids
        ]
    seconds = time.perf_counter() - started
    seen = {f.id for f in figures}
    for i in ids:
        if i not in seen:
            figures.append(unavailable(i, CATALOGUE[i][0], "the benchmark returned no figure for it"))
    for figure in figures:
        figure.extra.setdefault("benchmark_seconds", round(seconds, 1))
    log(f"{'/'.join(ids)} done in {seconds:.0f}s")
    return figures


def _accepts(fn: Callable[..., Any], name: str) -> bool:
    import inspect

    try:
        return name in inspect.signature(fn).parameters
    except (TypeError, ValueError):
        return False


def plan(only: Sequence[str]) -> list[tuple[list[str], Callable[..., Any] | None, str]]:
    """Which functions to call for the requested ids, groups first where all members exist."""
    todo = [i for i in CATALOGUE if i in only]
    steps: list[tuple[list[str], Callable[..., Any] | None, str]] = []
    for members, (module, name) in GROUPS.items():
        wanted = [i for i in todo if i in members]
        if len(wanted) < 1:
            continue
        fn, _why = resolve(module, (name,))
        if fn is not None:
            steps.append((sorted(wanted), fn, ""))
            todo = [i for i in todo if i not in members]
    for i in todo:
        _title, module, names = CATALOGUE[i]
        fn, why = resolve(module, names)
        steps.append(([i], fn, why))
    order = list(CATALOGUE)
    steps.sort(key=lambda step: order.index(step[0][0]))
    return steps


# --------------------------------------------------------------------------------------------
# output
# --------------------------------------------------------------------------------------------

HEADER = ("id", "figure", "value", "reference (same run)", "ratio", "target", "result")


def rows(figures: Sequence[Figure]) -> list[tuple[str, ...]]:
    out = []
    for f in figures:
        if not f.available:
            value = f.note
            ref = ratio = "-"
        else:
            value = fmt_value(f.value, f.unit)
            ref = (
                f"{f.reference_name}: {fmt_value(f.reference, f.unit)}"
                if f.reference is not None
                else (f.reference_name or "-")
            )
            ratio = f"{f.ratio:.2f}x" if f.ratio is not None else "-"
        out.append((f.id, f.name, value, ref, ratio, f.target, f.verdict))
    return out


def markdown_table(figures: Sequence[Figure]) -> str:
    def esc(cell: str) -> str:
        return cell.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(HEADER) + " |", "|" + "---|" * len(HEADER)]
    lines += ["| " + " | ".join(esc(c) for c in row) + " |" for row in rows(figures)]
    return "\n".join(lines)


def text_table(figures: Sequence[Figure]) -> str:
    table = [HEADER, *rows(figures)]
    widths = [min(max(len(r[i]) for r in table), 60) for i in range(len(HEADER))]
    out = []
    for n, row in enumerate(table):
        out.append("  ".join(cell[: widths[i]].ljust(widths[i]) for i, cell in enumerate(row)).rstrip())
        if n == 0:
            out.append("  ".join("-" * w for w in widths))
    return "\n".join(out)


def notes(figures: Sequence[Figure]) -> list[str]:
    return [f"- **{f.id}** {f.name}: {f.note}" for f in figures if f.note and f.available]


def environment() -> dict[str, Any]:
    def git(*args: str) -> str:
        result = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, check=False)
        return result.stdout.strip()

    mem = ""
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                mem = f"{int(line.split()[1]) / 1024**2:.1f} GiB"
    except OSError:
        pass
    return {
        "host": platform.node(),
        "cpus": os.cpu_count(),
        "memory": mem,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "git_commit": git("rev-parse", "--short", "HEAD"),
        "git_dirty": bool(git("status", "--porcelain", "--untracked-files=no")),
        "load_average_start": os.getloadavg(),
    }


def _merge_previous(
    md_path: Path, ran: set[str], table: str, note_lines: list[str]
) -> tuple[str, list[str], str]:
    """The previous latest.md's table rows and notes of the ids NOT run now, merged into this
    run's (catalogue order), and the previous run line; used by ``--merge`` with ``--only``."""
    if not md_path.exists():
        return table, note_lines, ""
    old = md_path.read_text().splitlines()
    previous_run = next((line for line in old if line.startswith("Run ")), "")

    def bench_id(line: str, prefix: str) -> str | None:
        m = re.match(prefix, line)
        return m.group(1) if m else None

    order = {i: n for n, i in enumerate(CATALOGUE)}

    def merged(new: list[str], prefix: str) -> list[str]:
        kept = [line for line in old if (i := bench_id(line, prefix)) and i not in ran]
        both = kept + new
        return sorted(both, key=lambda line: order.get(bench_id(line, prefix) or "", len(order)))

    head, *body = table.splitlines()
    sep, *new_rows = body
    rows_ = merged(new_rows, r"^\| (B\d+) \|")
    notes_ = merged(note_lines, r"^- \*\*(B\d+)\*\*")
    return "\n".join([head, sep, *rows_]), notes_, previous_run


def write_results(
    figures: Sequence[Figure],
    meta: dict[str, Any],
    out_dir: Path,
    *,
    markdown: bool = True,
    merge: bool = False,
) -> tuple[Path, Path | None]:
    out_dir.mkdir(parents=True, exist_ok=True)
    stamp = meta["started"].replace(":", "").replace("-", "")[:15]
    json_path = out_dir / f"{stamp}.json"
    json_path.write_text(json.dumps({**meta, "figures": [f.to_dict() for f in figures]}, indent=2))
    md_path = None
    if markdown:
        md_path = out_dir / "latest.md"
        load = meta.get("environment", {})
        table, note_lines, previous_run = markdown_table(figures), notes(figures), ""
        if merge:
            ran = {f.id for f in figures}
            table, note_lines, previous_run = _merge_previous(md_path, ran, table, note_lines)
        body = [
            "# mlstack benchmark results",
            "",
            f"Run {meta['started']} ({'full' if meta['full'] else 'quick'} mode, median of "
            f"{meta['repeats']} runs unless noted), commit {load.get('git_commit', '?')}"
            f"{' (uncommitted changes)' if load.get('git_dirty') else ''}, {load.get('cpus')} CPUs, "
            f"{load.get('memory')}, load average at start {_load(load.get('load_average_start'))}, "
            f"at end {_load(load.get('load_average_end'))}. Took {meta['seconds'] / 60:.1f} min."
            + (
                f" This run measured {', '.join(sorted({f.id for f in figures}))} only; the other rows "
                f"are kept from the previous table: {previous_run.removeprefix('Run ')}"
                if merge and previous_run
                else ""
            ),
            "",
            table,
            "",
            "Notes:",
            "",
            *note_lines,
            "",
            f"Raw samples: `benchmarks/results/{json_path.name}` (not committed).",
            "",
        ]
        md_path.write_text("\n".join(body))
        if out_dir.resolve() == RESULTS.resolve():
            _copy_into_readme(body)
    return json_path, md_path


README = ROOT / "benchmarks" / "README.md"
START, END = "<!-- latest-results:start -->", "<!-- latest-results:end -->"


def _copy_into_readme(body: list[str], readme: Path = README) -> bool:
    """Put the latest table (and its run line) between the README's markers; False if absent."""
    text = readme.read_text() if readme.exists() else ""
    if START not in text or END not in text:
        return False
    head, rest = text.split(START, 1)
    _old, tail = rest.split(END, 1)
    block = "\n".join(line for line in body[2:] if not line.startswith("Raw samples:")).strip()
    readme.write_text(f"{head}{START}\n{block}\n{END}{tail}")
    return True


def _load(values: Any) -> str:
    return "/".join(f"{v:.1f}" for v in values) if values else "?"


# --------------------------------------------------------------------------------------------
# main
# --------------------------------------------------------------------------------------------


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--full", action="store_true", help="add the largest sizes (10M rows, ...)")
    parser.add_argument("--only", default="", help="comma list of ids, e.g. B1,B3 (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per figure (median); default 3")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results folder")
    parser.add_argument("--no-markdown", action="store_true", help="do not rewrite latest.md")
    parser.add_argument(
        "--merge", action="store_true", help="with --only: keep latest.md's rows of the other ids (said so)"
    )
    parser.add_argument("--strict", action="store_true", help="exit 1 when a target is missed")
    args = parser.parse_args(argv)

    only = [i.strip().upper() for i in args.only.split(",") if i.strip()] or list(CATALOGUE)
    unknown = [i for i in only if i not in CATALOGUE]
    if unknown:
        parser.error(f"unknown benchmark id(s) {unknown}; known: {', '.join(CATALOGUE)}")

    started = datetime.now(UTC)
    t0 = time.perf_counter()
    meta: dict[str, Any] = {
        "started": started.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "full": args.full,
        "repeats": args.repeats,
        "only": only,
        "environment": environment(),
    }
    log(f"{'full' if args.full else 'quick'} run of {', '.join(only)} (median of {args.repeats})")
    figures: list[Figure] = []
    for ids, fn, why in plan(only):
        if fn is None:
            log(f"{'/'.join(ids)}: not available: {why}")
            figures += [unavailable(i, CATALOGUE[i][0], why) for i in ids]
            continue
        log(f"{'/'.join(ids)}: running")
        figures += call(fn, ids, quick=not args.full, repeats=args.repeats)
    order = list(CATALOGUE)
    figures.sort(key=lambda f: order.index(f.id) if f.id in order else len(order))

    meta["seconds"] = time.perf_counter() - t0
    meta["finished"] = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    meta["environment"]["load_average_end"] = os.getloadavg()
    json_path, md_path = write_results(
        figures, meta, args.out, markdown=not args.no_markdown, merge=args.merge
    )
    print(text_table(figures))
    print()
    for line in notes(figures):
        print(line)
    print(
        f"\nresults: {json_path}" + (f", {md_path}" if md_path else "") + f" ({meta['seconds'] / 60:.1f} min)"
    )
    missed = [f for f in figures if f.passed is False]
    return 1 if (args.strict and missed) else 0


if __name__ == "__main__":
    sys.exit(main())
