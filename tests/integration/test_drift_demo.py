"""`make drift-demo` end to end, as the README gives it: a fresh home, no secrets, no SMTP.

One real `make` process: a champion is trained, a drifted batch is generated, the drift DAG runs
with `airflow dags test` (drift found, the alert logged because no SMTP is set), the training run
it queued is executed, and the registry shows the gate's decision on the retrained version.
"""

from __future__ import annotations

import os
import re
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(1800)]


def test_make_drift_demo_finds_drift_retrains_on_the_batch_and_the_gate_decides(tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("MLSTACK_", "MLFLOW_", "AIRFLOW", "MAKE", "MFLAGS"))
    }
    env.update({"MLSTACK_HOME": str(tmp_path / "home"), "COLUMNS": "250", "PYTHONWARNINGS": "ignore"})
    demo = subprocess.run(
        ["make", "--no-print-directory", "drift-demo"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=1700,
    )
    out = demo.stdout
    assert demo.returncode == 0, out[-4000:] + demo.stderr[-3000:]
    steps = re.findall(r"^== (\d)\. ", out, re.M)
    assert steps == ["1", "2", "3", "4", "5"], steps
    assert "@champion: v1" in out
    assert re.search(r"^DRIFT DETECTED: \d/7 columns drifted", out, re.M), out[-3000:]
    assert "alert not mailed: SMTP: not configured" in out  # no SMTP in a fresh home: logged
    run = re.search(r"^training_pipeline (\S+): success .*promote=success", out, re.M)
    assert run, out[-3000:]
    gate = re.search(r"^  gate: (promoted|refused) v2: ", out, re.M)
    assert gate, out[-3000:]
    registry = out[out.index("== 5. ") :]
    row = next(line for line in registry.splitlines() if line.startswith("│ 2 "))
    assert run.group(1) in row and gate.group(1) in row, row
    first = next(line for line in registry.splitlines() if line.startswith("│ 1 "))
    dataset = re.compile(r"ds-[0-9a-f]{16}")
    assert dataset.search(row).group(0) != dataset.search(first).group(0)  # trained on the drifted batch
