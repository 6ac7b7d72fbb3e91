"""The README's examples do what they say (run in-process on the bundled data)."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest

from mlstack import lifecycle
from mlstack.data.synthetic import generate, parse_drift, reference_frame
from mlstack.drift import check, inputs

from .conftest import make_settings

README = Path(__file__).resolve().parents[2] / "README.md"


def _command(prefix: str) -> list[str]:
    """The README's first command line starting with `prefix` (backslash continuations joined)."""
    text = README.read_text().replace("\\\n", " ")
    line = next(line for line in text.splitlines() if line.startswith(prefix))
    return shlex.split(line.split(" #", 1)[0])


def test_readme_drift_example_shows_drift():
    argv = _command(".venv/bin/mlstack generate --rows 5000")
    drift = [argv[i + 1] for i, arg in enumerate(argv) if arg == "--drift"]
    rows = int(argv[argv.index("--rows") + 1])
    spec = lifecycle.context(make_settings(Path("/nonexistent")), "penguins").spec
    reference = inputs.features_frame(reference_frame(spec), spec, "reference")
    # seed 0: the CLI's default; the share: the default MLSTACK_DRIFT_SHARE
    batch = generate(rows, seed=0, spec=spec, drift=parse_drift(drift))
    current = inputs.features_frame(batch, spec, "current")
    result = check.evaluate(reference, current, spec, drift_share=0.5, render_html=False)
    assert result.drift_detected, [c.column for c in result.columns if c.drifted]
    # On the bundled reference; the tour's own champion (tests/integration/test_readme_native.py)
    # may see one more column move, hence "or more".
    said = re.search(r"DRIFT DETECTED: (\d+) or more of the (\d+) columns", README.read_text())
    assert said and int(said[2]) == len(spec.feature_names), said
    assert result.drifted_count == int(said[1]), result.drifted_count


def test_readme_says_what_unit_shift_is_in():
    assert "`shift=k` moves a numeric feature by k of its standard deviations" in README.read_text()


@pytest.mark.parametrize("prefix", [".venv/bin/mlstack predict -f", ".venv/bin/mlstack predict --json-row"])
def test_readme_prediction_examples_give_every_field(prefix):
    from mlstack.serving.inputs import prepare_inputs

    argv = _command(prefix)
    spec = lifecycle.context(make_settings(Path("/nonexistent")), "penguins").spec
    if "--json-row" in argv:
        import json

        rows = json.loads(argv[argv.index("--json-row") + 1])
    else:
        rows = dict(argv[i + 1].split("=", 1) for i, arg in enumerate(argv) if arg == "-f")
    assert len(prepare_inputs(rows, spec)) == 1


def test_readme_native_path_says_what_it_needs_and_how_to_stop():
    text = README.read_text()
    airflow = text.split("## Orchestration: Airflow", 1)[1].split("\n## ", 1)[0]
    assert "PostgreSQL server" in airflow and "`initdb`" in airflow  # a prerequisite of airflow-up
    app = text.split("## The Streamlit app", 1)[1].split("\n## ", 1)[0]
    assert "Ctrl-C stops it" in app and "`make mlflow-ui`" in app
    stack = text.split("## Run the stack (Docker Compose)", 1)[1].split("\n## ", 1)[0]
    assert "make stack-engine-stop" in stack
