"""JSON text built column by column (`mlstack.json_rows`) reads back as the values it was given."""

from __future__ import annotations

import json
import math
import random

import pytest

from mlstack import json_rows

AWKWARD = [
    None, True, False, 0, -1, 2**70, 0.1, -0.0, 1e300, 5e-324, 2008.0, "", "plain", 'quote " and \\',
    "line\nbreak", "naïve ☃", "%s %(x)s %%", "\x00missing", [1, "a"], {"k": [None]},
]  # fmt: skip


def _rows(rng: random.Random, count: int) -> list[dict]:
    keys = ["a", "%s", 'q"uote', "naïve", "%(x)s"]
    return [{k: rng.choice(AWKWARD) for k in keys} for _ in range(count)]


def test_rows_of_any_json_values_read_back_as_given():
    rng = random.Random(3)
    rows = _rows(rng, 300)
    columns = {k: json_rows.encoded([r[k] for r in rows]) for k in rows[0]}
    texts = json_rows.objects(columns, len(rows))
    assert [json.loads(t) for t in texts] == rows
    assert json.loads(json_rows.array(texts)) == rows
    assert [json.loads(t) for t in json_rows.keyed(rows)] == rows


@pytest.mark.parametrize(
    "values",
    [
        [0.5, 1.25, -3.0],  # one type per column takes a path of its own
        ["x", "ÿ", '"'],
        [1, 2**64, -7],
        [1, 0.5, None, "x", True],
    ],
)
def test_each_kind_of_column_is_what_json_dumps_would_write(values):
    assert [json.loads(t) for t in json_rows.encoded(values)] == values
    assert json_rows.encoded(values) == [json.dumps(v, separators=(",", ":")) for v in values]


def test_floats_that_are_not_finite_are_null():
    texts = json_rows.encoded([1.5, math.nan, math.inf, -math.inf])
    assert texts == ["1.5", "null", "null", "null"]
    assert json_rows.encoded([None, math.nan, 2.0]) == ["null", "null", "2.0"]


def test_rows_without_columns_are_empty_objects():
    assert json_rows.objects({}, 2) == ["{}", "{}"]
    assert json_rows.keyed([]) == []


def test_columns_of_numbers_read_back_exactly_at_any_magnitude():
    """Numbers are encoded by msgspec a column at a time: every float reads back bit for bit
    (exponents written as `1e22`, not `1e+22`), integers of any size as written."""
    rng = random.Random(7)
    floats = [rng.uniform(-1e6, 1e6) for _ in range(2000)]
    floats += [math.ldexp(rng.random(), rng.randint(-1070, 1020)) * rng.choice((1, -1)) for _ in range(2000)]
    floats += [1e22, 1e-7, 5e-324, -0.0, 2008.0, 1.7976931348623157e308]
    texts = json_rows.encoded(floats)
    assert [json.loads(t) for t in texts] == floats
    assert texts[-6:] == ["1e22", "1e-7", "5e-324", "-0.0", "2008.0", "1.7976931348623157e308"]
    whole = [0, -1, 2**63, -(2**63) - 1, 2**200]
    assert json_rows.encoded(whole) == [str(v) for v in whole]
    assert json_rows.encoded([]) == []


def test_class_probabilities_read_like_a_list_of_dicts_and_encode_from_their_columns():
    """A model's probability matrix stands for one dict per row without making them: rows, slices,
    equality and JSON read as the list of dicts would, and the CLI's JSON takes it as a list."""
    import numpy as np

    from mlstack.serving.scoring import ClassProbabilities

    matrix = np.array([[0.7, 0.1, 0.2], [1 / 3, 0.0, 2 / 3]])
    dicts = [dict(zip(["Adelie", "Chinstrap", "Gentoo"], row, strict=True)) for row in matrix.tolist()]
    lazy = ClassProbabilities(np.array(["Adelie", "Chinstrap", "Gentoo"], dtype=object), matrix)
    assert len(lazy) == 2 and lazy[1] == dicts[1] and lazy[-1] == dicts[-1] and lazy[:1] == dicts[:1]
    assert lazy == dicts and list(lazy) == dicts and lazy != dicts[:1]
    assert json_rows.keyed(lazy) == json_rows.keyed(dicts)
    assert [json.loads(t) for t in json_rows.keyed(lazy)] == dicts
    assert json_rows.by_key(lazy) == json_rows.by_key(dicts) == {
        "Adelie": [0.7, 1 / 3], "Chinstrap": [0.1, 0.0], "Gentoo": [0.2, 2 / 3]
    }  # fmt: skip
    assert json.loads(json.dumps(list(lazy))) == dicts
