"""Checked rows as one array per feature, and the check of rows that need no cast (no pandas).

What API clients send is usually already exactly what the spec asks: JSON objects with every
field, exact categories, finite numbers in range. `plain_columns` accepts such rows column by column
(a type set, a few NumPy comparisons per column) and returns their columns, which the ONNX form and
the prediction log read directly; a one-row request then pays microseconds instead of pandas'
per-operation cost. Any other row (a problem to name, text to strip or cast, a field absent or
extra, a number of magnitude 2**53 or more) gets None: the full checks of `serving.inputs` decide
and word it.
Whatever `plain_columns` accepts, the full checks accept too and turn into the same values
(tests/unit/test_plain_rows.py runs the bad-input corpus and seeded rows through both).
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cached_property
from typing import Any

import numpy as np
import pandas as pd

from mlstack.data.spec import DatasetSpec, FeatureSpec

Columns = Mapping[str, np.ndarray]

# Past it a float no longer holds every whole number: such numbers (and 2**53 itself, which may be
# the float of 2**53 + 1) take the full checks, which refuse an integer feature's whole number past it.
EXACT_WHOLE = 2**53
_EXACT = float(EXACT_WHOLE)
_NONE = type(None)
# Text that stands for a null (what CSV cells and cleared form fields give). "NaN" is not in it: it
# is refused like "Infinity", a number that is not one.
MISSING_TEXT = frozenset({"", "None"})


class CheckedRows:
    """Rows that passed the input checks: one array per feature (float64, int64 for integers,
    objects for categories with None where missing) and the same rows as a DataFrame (index
    0..n-1), each made from the other on first use."""

    def __init__(self, *, columns: Columns | None = None, frame: pd.DataFrame | None = None) -> None:
        if columns is None and frame is None:
            raise ValueError("CheckedRows needs columns or a frame")
        if columns is not None:
            self.__dict__["columns"] = dict(columns)
        if frame is not None:
            self.__dict__["frame"] = frame

    @cached_property
    def columns(self) -> dict[str, np.ndarray]:
        """One array per feature."""
        return {str(name): self.frame[name].to_numpy() for name in self.frame.columns}

    @cached_property
    def frame(self) -> pd.DataFrame:
        """The rows as a DataFrame (what the pipeline and the pages read)."""
        return pd.DataFrame(self.columns, index=pd.RangeIndex(len(self)), copy=False)

    def __len__(self) -> int:
        if "frame" in self.__dict__:
            return len(self.__dict__["frame"])
        columns = self.__dict__["columns"]
        return len(next(iter(columns.values()))) if columns else 0


def _numbers(values: list[Any], feature: FeatureSpec) -> np.ndarray | None:
    """The column as float64 when every value is a finite int or float within range and below 2**53
    (None too where the feature allows a missing number, as NaN); else None."""
    kinds = set(map(type, values))
    allowed = {int, float}
    if feature.nullable and feature.type == "float":
        allowed.add(_NONE)
    if not kinds <= allowed:
        return None
    try:
        floats = np.array(values, dtype="float64")
    except (OverflowError, TypeError, ValueError):
        return None
    finite = np.isfinite(floats)
    if not finite.all():
        if _NONE not in kinds or int((~finite).sum()) != values.count(None):
            return None  # a NaN or an infinity given as a number, not a missing value
        known = floats[finite]
    else:
        known = floats
    if known.size and float(np.abs(known).max()) >= _EXACT:
        return None
    if feature.min is not None and (known < feature.min).any():
        return None
    if feature.max is not None and (known > feature.max).any():
        return None
    if feature.type == "integer":
        if (known % 1 != 0).any():
            return None
        return floats.astype("int64")
    return floats


def _categories(values: list[Any], feature: FeatureSpec) -> np.ndarray | None:
    """The column as objects when every value is an exact category (None where allowed)."""
    kinds = set(map(type, values))
    if not kinds <= ({str, _NONE} if feature.nullable else {str}):
        return None
    allowed = {c for c in feature.categories or () if c == c.strip() and c not in MISSING_TEXT}
    given = set(values)
    given.discard(None)
    if not given <= allowed:
        return None
    column = np.empty(len(values), dtype=object)
    column[:] = values
    return column


def plain_columns(records: list[dict[str, Any]], spec: DatasetSpec) -> CheckedRows | None:
    """The checked rows when every object already is exactly what `spec` asks; else None (the
    full checks decide). Never refuses: None means "check these the long way"."""
    if not records:
        return None
    features = spec.features
    names = features.keys()
    if not all(type(r) is dict and r.keys() == names for r in records):
        return None
    out: dict[str, np.ndarray] = {}
    for name, feature in features.items():
        values = [r[name] for r in records]
        if feature.type == "categorical":
            column = _categories(values, feature)
        elif feature.is_numeric:
            column = _numbers(values, feature)
        else:
            return None  # booleans: the full checks cast them
        if column is None:
            return None
        out[name] = column
    return CheckedRows(columns=out)
