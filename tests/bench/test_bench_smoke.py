"""Each benchmark once at its smallest size, so the suite cannot rot (``pytest -m bench_smoke``).

These check that every benchmark runs end to end and returns a measured figure with its
reference — not how fast anything is (benchmarks never fail on slowness) — except two that need
the whole stack: B9 boots a one-service compose project instead, and B13 only builds its rows from
canned trigger summaries (the stack test runs `make trigger` itself). A figure that cannot be
measured here goes through ``tests.support.require.unavailable``: skipped locally with the
reason, a failure under CI=true.
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from benchmarks import Figure, at_most, ratio_at_most, unavailable
from benchmarks.run import CATALOGUE, main, markdown_table, resolve, write_results
from tests.support.require import unavailable as cannot_run

pytestmark = [pytest.mark.bench_smoke, pytest.mark.timeout(900)]


def measured(figures: list[Figure], *ids: str) -> list[Figure]:
    """Every figure available and measured; the ids asked for are all there."""
    for figure in figures:
        if not figure.available:
            cannot_run(f"{figure.id} {figure.name}: {figure.note}")
    assert {f.id for f in figures} >= set(ids), [f.id for f in figures]
    for figure in figures:
        assert figure.value is not None and figure.value > 0, figure
        assert figure.samples, figure
        assert figure.verdict in {"pass", "FAIL", "report"}
    return figures


def benchmark(bench_id: str):
    _title, module, names = CATALOGUE[bench_id]
    fn, why = resolve(module, names)
    if fn is None:
        cannot_run(f"{bench_id}: {why}")
    return fn


# --------------------------------------------------------------------------------------------
# the runner itself (no measurement)
# --------------------------------------------------------------------------------------------


def test_table_json_and_markdown_are_written(tmp_path):
    figures = [
        Figure("B3", "lifecycle, 1M rows: wall", 42.0, "s", 20.0, "fit+predict", limits=[at_most(60, "s")]),
        Figure("B1", "dag", 12.0, "s", 5.0, "run", limits=[ratio_at_most(2.0), at_most(10, "s")]),
        Figure("B2", "dags test", 20.0, "s", samples=[20.0]),
        unavailable("B9", "stack", "dockerd cannot run here"),
    ]
    assert [f.verdict for f in figures] == ["pass", "FAIL", "report", "n/a"]
    assert figures[0].ratio == pytest.approx(2.1)
    meta = {
        "started": "2026-01-02T03:04:05Z",
        "full": False,
        "repeats": 3,
        "seconds": 61.0,
        "environment": {"git_commit": "abc1234", "cpus": 2, "memory": "23 GiB"},
    }
    json_path, md_path = write_results(figures, meta, tmp_path)
    data = json.loads(json_path.read_text())
    assert [f["verdict"] for f in data["figures"]] == ["pass", "FAIL", "report", "n/a"]
    assert data["figures"][0]["target"] == "<= 60 s"
    text = md_path.read_text()
    assert markdown_table(figures) in text
    assert "not available: dockerd cannot run here" in text
    assert "| B1 | dag | 12.0 s | run: 5.00 s | 2.40x | <= 2x ref and <= 10 s | FAIL |" in text


def test_merge_keeps_the_other_rows_of_the_previous_table_and_says_so(tmp_path):
    meta = {
        "started": "2026-01-02T03:04:05Z",
        "full": False,
        "repeats": 3,
        "seconds": 61.0,
        "environment": {"git_commit": "abc1234", "cpus": 2, "memory": "23 GiB"},
    }
    first = [
        Figure("B1", "dag", 12.0, "s", samples=[12.0], note="old B1 note"),
        Figure("B11", "load", 5.0, "ms", samples=[5.0], note="old B11 note"),
        Figure("B10", "old b10", 9.0, "ms", samples=[9.0], note="old B10 note"),
    ]
    write_results(first, meta, tmp_path)
    again = [Figure("B10", "new b10", 1.5, "ms", samples=[1.5], note="new B10 note")]
    _json, md_path = write_results(again, {**meta, "started": "2026-01-03T00:00:00Z"}, tmp_path, merge=True)
    text = md_path.read_text()
    assert "old b10" not in text and "old B10 note" not in text
    rows = [line.split(" | ")[0] for line in text.splitlines() if line.startswith("| B")]
    assert rows == ["| B1", "| B10", "| B11"], rows
    assert "old B1 note" in text and "new B10 note" in text and "old B11 note" in text
    assert "measured B10 only; the other rows are kept from the previous table: 2026-01-02T03:04:05Z" in text


def test_the_latest_table_is_copied_between_the_readme_markers(tmp_path):
    from benchmarks.run import END, START, _copy_into_readme

    readme = tmp_path / "README.md"
    readme.write_text(f"# intro\n\n{START}\nold table\n{END}\n\n## after\n")
    body = ["# title", "", "Run line.", "", "| id |", "", "Raw samples: `x.json`", ""]
    assert _copy_into_readme(body, readme)
    text = readme.read_text()
    assert "old table" not in text and "Raw samples" not in text
    assert text.startswith("# intro") and text.endswith("## after\n")
    assert f"{START}\nRun line.\n\n| id |\n{END}" in text
    readme.write_text("no markers")
    assert not _copy_into_readme(body, readme) and readme.read_text() == "no markers"


def test_a_missing_benchmark_says_why_and_unknown_ids_are_refused():
    fn, why = resolve("benchmarks.not_there", ("bench_x",))
    assert fn is None and "benchmarks/not_there.py is not written yet" in why
    fn, why = resolve("benchmarks.lifecycle", ("bench_nothing",))
    assert fn is None and "has no bench_nothing()" in why
    with pytest.raises(SystemExit):
        main(["--only", "B42"])


# --------------------------------------------------------------------------------------------
# each benchmark once, smallest settings
# --------------------------------------------------------------------------------------------


def test_b3_lifecycle_and_reference_at_the_smallest_size():
    from benchmarks.lifecycle import bench_b3

    (wall,) = measured(bench_b3(repeats=1, sizes=(2_000,)), "B3")
    assert wall.reference and wall.reference > 0
    assert set(wall.extra["steps_median_s"]) == {"ingest", "validate", "train", "evaluate", "register"}
    assert wall.extra["peak_rss_mib"] > 100 and wall.extra["reference_peak_rss_mib"] > 100


def test_b2_airflow_dags_test_once():
    figures = measured(benchmark("B2")(repeats=1), "B2")
    assert figures[0].reference and figures[0].reference > 0


def test_b1_one_dag_run_on_live_services_beside_the_reference():
    b1, b1_cli = measured(benchmark("B1")(repeats=1), "B1")
    assert b1.reference and b1.reference > 0
    # the second row: the same DAG samples against a cold `mlstack run` process
    assert b1_cli.samples == b1.samples and b1_cli.reference and b1_cli.reference > b1.reference
    # compare() runs at least one DAG run and one warm in-process run (it may add a warm-up sample)
    assert len(b1.samples) >= 1
    assert len(b1.reference_samples) >= 1
    assert all(s > 0 for s in b1.samples)


def test_b8_services_first_boot():
    from benchmarks.airflow import bench_b8

    (b8,) = measured(bench_b8(repeats=1, warm_starts=0), "B8")
    assert {"mlflow_s", "airflow_s", "both_s"} <= set(b8.extra["starts"][0])


def test_b4_b5_b6_serving_once():
    from benchmarks.run import GROUPS

    module, name = GROUPS[frozenset({"B4", "B5", "B6"})]
    fn, why = resolve(module, (name,))
    if fn is None:
        cannot_run(f"B4-B6: {why}")
    measured(fn(quick=True, repeats=1), "B4", "B5", "B6")


def test_b7_drift_once():
    figures = measured(benchmark("B7")(quick=True, repeats=1, rows=50_000), "B7")
    assert figures[0].reference and figures[0].reference > 0


def test_b9_compose_up_wait_on_a_tiny_project(tmp_path):
    from benchmarks.stack import bench_b9

    compose = tmp_path / "compose.yml"
    compose.write_text(
        textwrap.dedent(
            """\
            services:
              probe:
                image: debian:bookworm-slim
                command: ["sleep", "600"]
                init: true
                healthcheck:
                  test: ["CMD", "true"]
                  interval: 1s
                  retries: 30
            """
        )
    )
    figures = measured(bench_b9(repeats=1, compose_file=Path(compose)), "B9")
    assert figures[0].extra["first_boot_s"] > 0


def test_b10_api_beside_mlflow_models_serve_briefly():
    figures = benchmark("B10")(calls=20, seconds=1, batch_requests=1)
    for figure in figures:
        if not figure.available:
            cannot_run(f"B10 {figure.name}: {figure.note}")
    by_name = {f.name.rsplit(": ", 1)[1]: f for f in figures}
    assert by_name["errors (all servers)"].value == 0, by_name["errors (all servers)"].note
    measured([f for f in figures if f.value], "B10")
    p50 = by_name["one row, sequential, p50"]
    assert p50.reference and p50.reference > 0 and "mlflow models serve" in p50.reference_name
    assert by_name["1,000-row requests"].reference > 0
    # the diagnostic server (no log) answered the same 1,000 rows (a wrong length is an error)
    bare = by_name["1,000-row requests with no prediction log (diagnostic)"]
    assert bare.value > 0 and bare.reference == by_name["1,000-row requests"].reference


def test_b11_api_load_briefly():
    p50, p99, ok = measured(benchmark("B11")(clients=4, seconds=3, reference_seconds=1), "B11")
    assert p50.reference and p50.reference > 0 and p99.value >= p50.value
    assert ok.extra["statuses"] and p50.extra["load"]["requests"] > 0


def test_b12_batch_inference_once_small():
    wall, peak = measured(benchmark("B12")(repeats=1, rows=20_000), "B12")
    assert wall.reference and wall.reference > 0
    assert wall.extra["scored"] == 20_000 - 2 and wall.extra["invalid"] == 2  # rows 0 and 10 000 broken
    assert peak.unit == "GiB" and peak.limits


def test_b13_rows_split_the_stack_run_by_task_beside_the_native_one():
    """B13's rows from the trigger script's printed summaries (the stack boot itself is B13 in
    `make bench`; the stack test runs the same `make trigger`)."""
    from benchmarks.stack_dag import figures, run_printed

    def summary(wall: float, run: float, promote: float) -> dict:
        printed = json.dumps(
            {
                "state": "success",
                "trigger_to_finish_s": run,
                "queued_to_start_s": 0.2,
                "tasks": {"train": {"duration_s": 2.0}, "promote": {"duration_s": promote}},
            },
            indent=2,
        )
        return {"wall_s": wall, **run_printed(f"triggered\n{printed}\nrun: success after {run:.0f}s\n")}

    native = {
        "note": "one warm-up run per side first",
        "dag_trigger_to_success_s": [9.0, 5.0, 6.0],
        "dag_task_median_s": {"train": 1.5, "promote": 1.0},
    }
    warm = [summary(13.0, 11.0, 3.0), summary(12.0, 10.0, 4.0)]
    rows = figures(native, summary(19.0, 15.0, 5.0), warm, up_s=50.0)
    run, first, overhead, *tasks = rows
    assert run.value == pytest.approx(10.5) and run.reference == pytest.approx(5.5)  # warm-up left out
    assert run.verdict == "FAIL"  # 10.5 s is over 10 s and 1.9x is within 2x: one limit missed
    assert first.value == 19.0 and first.verdict == "pass"
    assert overhead.value == pytest.approx(2.0) and overhead.verdict == "pass"
    assert {t.name: (t.value, t.reference) for t in tasks} == {
        "task `train` in the stack (warm median)": (2.0, 1.5),
        "task `promote` in the stack (warm median)": (3.5, 1.0),
    }
    with pytest.raises(RuntimeError, match="no run summary"):
        run_printed("Error: the scheduler is not running\n")


def test_b14_staleness_study_on_penguins_years():
    figures = measured(benchmark("B14")(repeats=1), "B14")
    assert [(f.extra["trained_through"], f.extra["scored_period"]) for f in figures] == [
        (2007, 2008),
        (2007, 2009),
        (2008, 2009),
    ]
    for figure in figures:
        assert 0 < figure.value <= 1 and figure.reference and figure.ratio is not None
        assert figure.extra["train_rows"] < 344 and figure.extra["scored_rows"] > 100
