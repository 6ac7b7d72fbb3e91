"""Every make recipe runs in one shell (.ONESHELL): a failing line must stop the recipe.

Without `-e` in .SHELLFLAGS a recipe's status is its last line's, so `make demo` would pass with a
failed DAG run and `make lint` with ruff findings, as long as the last command succeeded.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.static


def _run_probe(tmp_path: Path, recipe: str) -> tuple[int, bool]:
    marker = tmp_path / "reached"
    makefile = tmp_path / "probe.mk"
    makefile.write_text(f"include {ROOT}/Makefile\n\nprobe:\n{recipe}\n\ttouch {marker}\n")
    done = subprocess.run(
        ["make", "--no-print-directory", "-f", str(makefile), "probe"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    return done.returncode, marker.exists()


def test_a_failing_line_stops_the_recipe(tmp_path):
    rc, reached = _run_probe(tmp_path, "\tfalse")
    assert rc != 0 and not reached


def test_a_failing_command_in_a_pipe_stops_the_recipe(tmp_path):
    rc, reached = _run_probe(tmp_path, "\tfalse | cat")
    assert rc != 0 and not reached


def test_a_passing_recipe_runs_to_its_end(tmp_path):
    rc, reached = _run_probe(tmp_path, "\ttrue | cat")
    assert rc == 0 and reached
