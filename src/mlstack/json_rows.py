"""JSON text of many rows that share their keys, encoded column by column.

The prediction log stores each row's inputs and output as JSON, and the API answers with a list
of rows. `json.dumps` once per row pays its call overhead per row: on a 1,000-row request that
cost more than scoring. Here each column is encoded in one pass (floats, whole numbers and text
each with their own encoder), then each row's object is one string formatting.

A column of numbers is one msgspec encode of the whole list, split at its commas: `float.__repr__`
per value cost four times as much (1.2 ms for the 4,000 floats of a 1,000-row penguins request).
The text reads back with `json.loads` as the same values `json.dumps` would have written (compact
separators); a float's exponent may be written without its `+` (`1e22`, where Python writes
`1e+22`). A float that is not finite is written as null: in the log that is a missing input (NaN
is how tables hold one), and JSON has no NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

import msgspec

_NUMBERS = msgspec.json.Encoder()  # NaN and infinities as null; integers of any size
_COMPACT = json.JSONEncoder(separators=(",", ":"))


def _float(value: float) -> str:
    return float.__repr__(value) if math.isfinite(value) else "null"


def _one(value: Any) -> str:
    """One value of any JSON-able type (what `json.dumps` accepts)."""
    kind = type(value)
    if kind is float:
        return _float(value)
    if kind is str:
        return encode_basestring_ascii(value)
    if kind is int:
        return int.__repr__(value)
    if value is None:
        return "null"
    return _COMPACT.encode(value)


def encoded(values: Sequence[Any]) -> list[str]:
    """The JSON text of each value (Python values: what `ndarray.tolist()` gives)."""
    kinds = set(map(type, values))
    if kinds == {float} or kinds == {int}:  # no commas inside a number: the split is exact
        return _NUMBERS.encode(values).decode()[1:-1].split(",") if values else []
    if kinds == {str}:
        return list(map(encode_basestring_ascii, values))
    return list(map(_one, values))


def objects(columns: Mapping[str, Sequence[str]], rows: int) -> list[str]:
    """One JSON object per row from already encoded columns (`encoded`), keys in column order."""
    if not columns:
        return ["{}"] * rows
    keys = ",".join(encode_basestring_ascii(str(k)).replace("%", "%%") + ":%s" for k in columns)
    template = "{" + keys + "}"
    return [template % values for values in zip(*columns.values(), strict=True)]


def by_key(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Any]]:
    """Each key's values in row order, for dicts that all have the first one's keys. Rows that can
    give them at once (`rows.columns()`, e.g. scoring.ClassProbabilities) do, with no dict per row."""
    by_column = getattr(rows, "columns", None)
    if callable(by_column):
        return by_column()
    return {k: [row[k] for row in rows] for k in rows[0]} if rows else {}


def keyed(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One JSON object per dict, for dicts that all have the first one's keys (e.g. class
    probabilities)."""
    if not rows:
        return []
    return objects({k: encoded(v) for k, v in by_key(rows).items()}, len(rows))


def array(texts: Sequence[str]) -> str:
    """A JSON array of already encoded items."""
    return "[" + ",".join(texts) + "]"
