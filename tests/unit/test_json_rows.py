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
