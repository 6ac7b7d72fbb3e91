"""The staleness study (M4): each version trained through a year, scored on every later year."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from typer.testing import CliRunner

from mlstack.cli import app
from mlstack.data.spec import load_spec
from mlstack.data.synthetic import reference_frame
from mlstack.errors import ConfigError
from mlstack.model.staleness_study import study, to_markdown


def test_every_version_is_scored_on_every_later_year_against_its_own_age_zero():
    spec = load_spec("penguins")
    rows = study(reference_frame(spec), spec, seed=42)
    assert [(r.trained_through, r.scored_period, r.age) for r in rows] == [
        (2007, 2007, 0),
        (2007, 2008, 1),
        (2007, 2009, 2),
        (2008, 2008, 0),
        (2008, 2009, 1),
    ]
    by_version = {v: [r for r in rows if r.trained_through == v] for v in (2007, 2008)}
    for version_rows in by_version.values():
        base = version_rows[0].value
        assert all(r.change == pytest.approx(r.value - base) for r in version_rows)
    # trained through 2008 = all of 2007 and 75% of 2008; never a row of a later year
    assert by_version[2007][0].train_rows + by_version[2007][0].scored_rows == 110
    assert by_version[2008][0].train_rows == 110 + 114 - by_version[2008][0].scored_rows
    assert all(0.8 <= r.value <= 1.0 for r in rows), rows  # the gate's floor, at every age
    table = to_markdown(rows)
    assert table.count("\n") == 2 + len(rows) and "| 2007 | 2009 | 2 |" in table


def test_data_without_enough_periods_is_refused():
    spec = load_spec("penguins")
    frame = reference_frame(spec)
    with pytest.raises(ConfigError, match="no period column 'month'"):
        study(frame, spec, seed=1, period="month")
    with pytest.raises(ConfigError, match="it needs 2 or more"):
        study(frame[frame["year"] == 2008], spec, seed=1)


def test_the_cli_prints_and_writes_the_table(tmp_path, monkeypatch):
    monkeypatch.setenv("MLSTACK_HOME", str(tmp_path / "home"))
    out = tmp_path / "staleness.md"
    result = CliRunner().invoke(app, ["staleness-study", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_text().startswith("| trained through year | scored year | age (years) |")
    assert "| 2008 | 2009 | 1 |" in result.output
    as_json = CliRunner().invoke(app, ["staleness-study", "--json"])
    assert pd.DataFrame(json.loads(as_json.output))["age"].tolist() == [0, 1, 2, 0, 1]
