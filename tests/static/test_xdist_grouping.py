"""`make test` runs tests on two xdist workers with `--dist loadgroup`, and tests marked with one
`xdist_group` must run on one worker, in file order: tests/reliability/test_faults.py shares its
servers and the models trained by its first tests with the tests after them.

pytest 9.2 broke that without an error (pytest-xdist issue #1386: the group is written into a node
id field pytest no longer reads), and test_faults.py then failed one run in a few. This runs a
small session the way `make test` does and fails if a group is split."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from collections import defaultdict

GROUPED = """
    import os
    import pytest

    pytestmark = [pytest.mark.xdist_group("together")]

    @pytest.mark.parametrize("i", range(6))
    def test_grouped(i):
        with open(os.environ["PROBE_OUT"], "a") as out:
            out.write(f"grouped {i} {os.environ['PYTEST_XDIST_WORKER']}\\n")
"""
UNGROUPED = """
    import time
    import pytest

    @pytest.mark.parametrize("i", range(12))
    def test_free(i):
        time.sleep(0.05)
"""


def test_tests_of_one_xdist_group_run_on_one_worker_in_file_order(tmp_path):
    (tmp_path / "test_grouped.py").write_text(textwrap.dedent(GROUPED))
    (tmp_path / "test_ungrouped.py").write_text(textwrap.dedent(UNGROUPED))
    out = tmp_path / "ran.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "COV_"))}
    env["PROBE_OUT"] = str(out)
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-n", "2", "--dist", "loadgroup",
         str(tmp_path)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]
    workers: dict[str, list[int]] = defaultdict(list)
    for line in out.read_text().splitlines():
        _, index, worker = line.split()
        workers[worker].append(int(index))
    assert len(workers) == 1, f"one xdist group ran on several workers: {dict(workers)}"
    assert next(iter(workers.values())) == list(range(6))
