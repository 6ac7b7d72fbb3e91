"""`make demo`, the README's first command: its two steps on a fresh home, with no secrets.

`make -n demo` must run exactly `mlstack airflow demo` and `mlstack predict --example`; both run
here as real processes from an empty working directory (no .env, no .secrets, no MLSTACK_*), so
what a newcomer sees on a clean clone is what this test sees.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
MLSTACK = str(Path(sys.executable).parent / "mlstack")

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.timeout(900)]


def _clean_env(home: Path) -> dict[str, str]:
    keep = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_", "MLFLOW_", "AIRFLOW"))}
    return {**keep, "MLSTACK_HOME": str(home), "COLUMNS": "200"}


def test_make_demo_runs_exactly_the_two_documented_steps():
    out = subprocess.run(
        ["make", "-n", "--no-print-directory", "demo"], cwd=ROOT, capture_output=True, text=True, check=True
    )
    commands = [line.split("/")[-1] for line in out.stdout.splitlines() if "/mlstack " in line]
    assert commands == ["mlstack airflow demo", "mlstack predict --example"]


@pytest.mark.parametrize("dataset", ["penguins", "diabetes"])
def test_demo_trains_promotes_and_serves_on_a_fresh_home_without_secrets(tmp_path, dataset):
    """The README's `make demo`, and `MLSTACK_DATASET=diabetes make demo` (regression, no code change)."""
    env = _clean_env(tmp_path / "home")
    if dataset != "penguins":  # the default
        env["MLSTACK_DATASET"] = dataset
    demo = subprocess.run(
        [MLSTACK, "airflow", "demo"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=800
    )
    assert demo.returncode == 0, demo.stdout[-3000:] + demo.stderr[-3000:]
    for row in ("dataset id", "validation", "model version", "gate", "@champion"):
        assert row in demo.stdout, demo.stdout
    assert "promoted" in demo.stdout and "success" in demo.stdout

    predict = subprocess.run(
        [MLSTACK, "predict", "--example", "--json"],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert predict.returncode == 0, predict.stderr[-3000:]
    answer = json.loads(predict.stdout)
    assert answer["model"].endswith("@champion") and answer["version"] == "1"
    assert answer["model"].startswith(f"models:/{dataset}-")
    if dataset == "penguins":
        assert answer["predictions"][0] in ("Adelie", "Chinstrap", "Gentoo")
        assert sum(answer["probabilities"][0].values()) == pytest.approx(1.0)
    else:  # a value within the spec's target range, no class probabilities
        assert isinstance(answer["predictions"][0], float) and 0 < answer["predictions"][0] < 400
        assert not answer.get("probabilities")
