"""The pandas-free check of rows (`serving.plain_rows`) against the full checks of `serving.inputs`:
the bad-input corpus and seeded rows, valid and invalid, get the same decision and the same words
from both, and what the direct path accepts is the frame the full checks make of the same rows."""

from __future__ import annotations

import contextlib
import math
import random
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest
import yaml

from mlstack.data.spec import load_spec
from mlstack.data.synthetic import generate
from mlstack.errors import InputError
from mlstack.serving import inputs
from mlstack.serving.plain_rows import CheckedRows, plain_columns
from tests.support.rows import GOOD_ROW

SPEC = load_spec("penguins")


def _odd_spec():
    """Penguins with what the bundled spec lacks: numbers without bounds (whole numbers past 2**53
    reach the checks) and categories that are whitespace-padded or read as a null ("None")."""
    features = {name: feature.model_copy() for name, feature in SPEC.features.items()}
    for name in ("bill_length_mm", "year"):
        features[name] = features[name].model_copy(update={"min": None, "max": None})
    island = features["island"]
    features["island"] = island.model_copy(update={"categories": [*island.categories, "None", " Padded"]})
    return SPEC.model_copy(update={"features": features})


ODD_SPEC = _odd_spec()
CASES = yaml.safe_load((Path(__file__).resolve().parents[1] / "data" / "bad" / "cases.yaml").read_text())
ROW = {**GOOD_ROW, "flipper_length_mm": 217, "body_mass_g": 5200}  # ints where floats are asked


@contextlib.contextmanager
def _full_checks_only():
    """`serving.inputs` with the direct path switched off: the reference."""
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(inputs, "plain_columns", lambda records, spec: None)
        yield


def _outcome(check, rows: Any) -> tuple[str, Any]:
    """("refused", the words) or ("accepted", the checked frame)."""
    try:
        return "accepted", check(rows)
    except InputError as exc:
        return "refused", str(exc)


def _assert_same(rows: Any, spec=SPEC) -> bool:
    """Both paths decide alike on `rows`, with the same words or the same frame; True when the
    direct path took the rows."""
    with _full_checks_only():
        expected = _outcome(lambda r: inputs.prepare_inputs(r, spec), rows)
        expected_split = _outcome(lambda r: inputs.check_rows(r, spec), rows)
    got = _outcome(lambda r: inputs.checked_inputs(r, spec).frame, rows)
    got_split = _outcome(lambda r: inputs.check_rows(r, spec), rows)
    assert got[0] == expected[0], (rows, got, expected)
    if got[0] == "refused":
        assert got[1] == expected[1]
    else:
        pd.testing.assert_frame_equal(got[1], expected[1])
    assert got_split[0] == expected_split[0], (rows, got_split, expected_split)
    if got_split[0] == "refused":
        assert got_split[1] == expected_split[1]
    else:
        pd.testing.assert_frame_equal(got_split[1][0], expected_split[1][0])
        assert got_split[1][1] == expected_split[1][1]
    records = [rows] if isinstance(rows, dict) else rows
    direct = plain_columns(records, spec) if isinstance(records, list) else None
    if direct is not None:
        assert expected[0] == "accepted", rows
        pd.testing.assert_frame_equal(direct.frame, expected[1])
    return direct is not None


def _corpus_inputs() -> list[Any]:
    found = []
    for case in CASES["predictions"]:
        if "input" in case:
            found.append(case["input"])
        if "rows" in case:
            found.append(case["rows"])
    return found


@pytest.mark.parametrize("rows", _corpus_inputs())
def test_the_bad_input_corpus_gets_the_same_answer_from_both_paths(rows):
    assert not _assert_same(rows)  # every corpus input needs the full checks' words


def _valid_rows(count: int, seed: int) -> list[dict[str, Any]]:
    frame = generate(count, seed, SPEC)[SPEC.feature_names]
    return [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


# Values worth trying in any field: edges of the spec's ranges, types JSON and Python callers give.
ODD = [
    None, float("nan"), float("inf"), -float("inf"), True, False, "", "None", " ", "NaN", "Infinity",
    "45.1", " 45.1 ", "long", " Dream", "Dream ", "dream", "Dream", "Biscoe", "female", "male",
    "Atlantis", 0, -1, 0.0, -0.0, 2007, 2007.0, 2008.5, 2030, 2031, 25, 25.0, 24.999, 70, 70.0001,
    10, 25, 150, 250, 2000, 7000, 7000.5, 1e300, -1e300, 2**53, 2**53 + 1, 2**63, 2**70, [1], {"a": 1},
    np.float64(45.0), np.int64(2008), np.str_("Dream"), " Padded", "Padded", 10**400,
]  # fmt: skip


def _mutated(rng: random.Random, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    out = [dict(r) for r in rows]
    for _ in range(rng.choice([0, 1, 1, 2, 3])):
        row = rng.choice(out)
        what = rng.random()
        name = rng.choice(SPEC.feature_names)
        if what < 0.8:
            row[name] = rng.choice(ODD)
        elif what < 0.88:
            row.pop(name, None)
        elif what < 0.94:
            row[rng.choice(["colour", SPEC.target])] = "x"
        else:
            row[name] = rng.choice([v for v in ODD if not isinstance(v, list | dict)])
    return out


SPECS = pytest.mark.parametrize("spec", [SPEC, ODD_SPEC], ids=["penguins", "unbounded-and-odd-categories"])


@SPECS
def test_every_odd_value_in_every_field_gets_the_same_answer_from_both_paths(spec):
    direct = 0
    for name in spec.feature_names:
        for value in ODD:
            direct += _assert_same([ROW, {**ROW, name: value}], spec)
    assert direct > 20


@SPECS
def test_seeded_rows_valid_and_invalid_get_the_same_answer_from_both_paths(spec):
    rng = random.Random(16)
    pool = _valid_rows(400, seed=16)
    direct = 0
    for _ in range(600):
        rows = _mutated(rng, rng.sample(pool, rng.choice([1, 1, 2, 5])))
        direct += _assert_same(rows if len(rows) > 1 or rng.random() < 0.5 else rows[0], spec)
    assert direct > 100  # the direct path was exercised, not only the fallback


def test_a_thousand_valid_rows_take_the_direct_path_with_the_full_checks_frame():
    rows = _valid_rows(1000, seed=7)
    rows.append({**ROW, "year": 2008.0, "sex": None, "bill_depth_mm": None})  # a whole float: an integer
    assert any(v is None for r in rows for v in r.values())
    assert _assert_same(rows)
    direct = plain_columns(rows, SPEC)
    assert direct is not None
    assert direct.columns["year"].dtype == np.int64
    assert direct.columns["bill_depth_mm"].dtype == np.float64


@pytest.mark.parametrize(
    "change",
    [
        {"island": " Dream"},  # text to strip
        {"bill_length_mm": "45.1"},  # text to cast
        {"bill_length_mm": float("nan")},
        {"bill_length_mm": 99.0},  # out of range
        {"year": 2008.5},
        {"year": True},
        {"year": None},
        {"year": 2**53 + 1},  # past what a float holds exactly
        {"species": "Adelie"},  # the target: ignored by the checks, not a spec feature
    ],
)
def test_rows_that_need_the_full_checks_do_not_take_the_direct_path(change):
    assert plain_columns([ROW], SPEC) is not None
    assert plain_columns([ROW, {**ROW, **change}], SPEC) is None
    absent = {k: v for k, v in ROW.items() if k != "sex"}
    assert plain_columns([absent], SPEC) is None


def test_checked_rows_give_columns_and_frame_from_either():
    frame = inputs.prepare_inputs([ROW, {**ROW, "sex": None}], SPEC)
    from_frame = CheckedRows(frame=frame)
    assert len(from_frame) == 2
    assert from_frame.columns["sex"].tolist() == ["female", None]
    from_columns = CheckedRows(columns=from_frame.columns)
    assert len(from_columns) == 2
    pd.testing.assert_frame_equal(from_columns.frame, frame)
    with pytest.raises(ValueError):
        CheckedRows()
