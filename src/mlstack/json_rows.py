"""JSON text of many rows that share their keys, encoded column by column.

The prediction log stores each row's inputs and output as JSON, and the API answers with a list
of rows. `json.dumps` once per row pays its call overhead per row: on a 1,000-row request that
cost more than scoring. Here each column is encoded in one pass (floats, whole numbers and text
each with their own encoder), then each row's object is one string formatting.

The text reads back with `json.loads` as the same values `json.dumps` would have written (compact
separators). A float that is not finite is written as null: in the log that is a missing input
(NaN is how tables hold one), and JSON has no NaN.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from json.encoder import encode_basestring_ascii
from typing import Any

_COMPACT = json.JSONEncoder(separators=(",", ":"))
_NOT_FINITE = frozenset({"nan", "inf", "-inf"})  # float.__repr__ of the floats JSON has no word for


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
    if kinds == {float}:
        texts = list(map(float.__repr__, values))
        if all(map(math.isfinite, values)):
            return texts
        return ["null" if t in _NOT_FINITE else t for t in texts]
    if kinds == {str}:
        return list(map(encode_basestring_ascii, values))
    if kinds == {int}:
        return list(map(int.__repr__, values))
    return list(map(_one, values))


def objects(columns: Mapping[str, Sequence[str]], rows: int) -> list[str]:
    """One JSON object per row from already encoded columns (`encoded`), keys in column order."""
    if not columns:
        return ["{}"] * rows
    keys = ",".join(encode_basestring_ascii(str(k)).replace("%", "%%") + ":%s" for k in columns)
    template = "{" + keys + "}"
    return [template % values for values in zip(*columns.values(), strict=True)]


def keyed(rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """One JSON object per dict, for dicts that all have the first one's keys (e.g. class
    probabilities)."""
    if not rows:
        return []
    return objects({k: encoded([row[k] for row in rows]) for k in rows[0]}, len(rows))


def array(texts: Sequence[str]) -> str:
    """A JSON array of already encoded items."""
    return "[" + ",".join(texts) + "]"
