"""Input checks: rows cast to the dataset spec's types, every bad field named with its problem.

The same rules answer the CLI, both Streamlit pages and the prediction API (`mlstack.api`), so a
refused row reads the same everywhere. The checks run on plain NumPy arrays, one per column, so
a large batch stays vectorised. Rows that already are exactly what the spec asks (JSON objects
with every field, exact categories, finite in-range numbers: what API clients send) skip the casts
and pandas altogether (`serving.plain_rows`); any other row goes through the checks, which word
every refusal.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from mlstack.data.spec import DatasetSpec, FeatureSpec
from mlstack.errors import InputError
from mlstack.serving.plain_rows import EXACT_WHOLE, MISSING_TEXT, CheckedRows, plain_columns

Rows: TypeAlias = pd.DataFrame | list[dict] | dict  # one object, a list of objects, or a frame


@dataclass
class RowProblems:
    """Per-row reasons for rows a batch could not score."""

    index: int
    reasons: list[str]


def as_frame(rows: Rows) -> pd.DataFrame:
    """Rows as a DataFrame: a frame as is, one object as one row, a list of objects; else InputError."""
    if isinstance(rows, pd.DataFrame):
        return rows
    return _records_frame(_records(rows))


def _records(rows: Rows) -> list[dict]:
    """One object or a list of objects as a list of objects; else InputError."""
    if isinstance(rows, dict):
        rows = [rows]
    if not isinstance(rows, list) or not all(isinstance(r, dict) for r in rows):
        raise InputError("input: expected a JSON object (one row) or a list of objects")
    return rows


def _unreadable(rows: list[dict], exc: Exception) -> str:
    """Why rows cannot become a table: a whole number past 64 bits (JSON allows any size), named."""
    for i, row in enumerate(rows):
        for key, value in row.items():
            if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 63:
                digits = int(value.bit_length() * 0.30103) + 1  # str() of a huge int may raise
                return f"row {i}: field {key!r}: a whole number of about {digits} digits is out of range"
    return f"input: the rows cannot be read as a table ({type(exc).__name__}: {str(exc)[:200]})"


def _records_frame(records: list[dict]) -> pd.DataFrame:
    """Objects as rows (one row per object, even `{}`). A float NaN (JSON's bare `NaN`) becomes the
    text "NaN", so it is refused like "Infinity" instead of passing for a null."""
    clean = [{k: "NaN" if isinstance(v, float) and v != v else v for k, v in r.items()} for r in records]
    columns = list(dict.fromkeys(k for r in clean for k in r))
    try:
        return pd.DataFrame.from_records(clean, columns=columns, index=pd.RangeIndex(len(clean)))
    except (OverflowError, ValueError, TypeError) as exc:
        raise InputError(_unreadable(records, exc)) from None


def absent_message(names: list[str]) -> str:
    """The problem of absent fields: every one named (a null is not the same as an absent field)."""
    listed = ", ".join(repr(n) for n in names)
    return f"absent field(s) {listed}: give every field (null or empty where the spec allows it)"


def _is_number_dtype(values: np.ndarray) -> bool:
    return pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values.dtype)


def _per_value(values: np.ndarray, fn: Callable[[Any], Any], na_value: Any) -> np.ndarray:
    """`fn` of every non-missing value (`na_value` for missing ones), as an object array.

    Columns of text (what CSV readers give) have few distinct values: `fn` runs once per
    distinct value instead of once per row, which keeps large batches cheap.
    """
    if pd.api.types.infer_dtype(values, skipna=True) in ("string", "empty"):
        codes, uniques = pd.factorize(values, use_na_sentinel=True)
        mapped = np.empty(len(uniques) + 1, dtype=object)
        mapped[: len(uniques)] = [fn(u) for u in uniques]
        mapped[-1] = na_value  # code -1 (missing) picks the last slot
        return mapped[codes]
    out = np.empty(len(values), dtype=object)
    out[:] = [na_value if _scalar_missing(v) else fn(v) for v in values]
    return out


def _scalar_missing(value: Any) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # list-like cell
        return False


def _missing(values: np.ndarray) -> np.ndarray:
    """Missing: NA, or text that is empty or "None" once stripped."""
    na = pd.isna(values)
    if _is_number_dtype(values):
        return na  # str() of a number is never one of the missing texts but NaN's
    text_missing = _per_value(values, lambda v: str(v).strip() in MISSING_TEXT, True)
    return na | text_missing.astype(bool)


def _without_missing(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """An object copy of `values` with the missing cells set to None."""
    kept = values.astype(object)
    kept[missing] = None
    return kept


def _numbers(values: np.ndarray, missing: np.ndarray) -> np.ndarray:
    """The column as numbers (text stripped first); values that are not numbers become NaN.

    Integer and float columns keep their dtype (messages print 2031, not 2031.0). A boolean
    (JSON `true`) is not a number, though Python counts it as 1."""
    if _is_number_dtype(values):
        return values
    kept = _without_missing(values, missing)
    stripped = _per_value(kept, _number_text, None)
    return pd.to_numeric(stripped, errors="coerce")


def _number_text(value: Any) -> Any:
    if isinstance(value, bool | np.bool_):
        return "not a number"  # coerces to NaN: reported as "True is not a number"
    return value.strip() if isinstance(value, str) else value


def _past_exact(numbers: np.ndarray, column: np.ndarray, considered: np.ndarray) -> np.ndarray:
    """Numbers of magnitude past 2**53, judged on the value given, not on its float: cast, 2**53 + 1
    would become 2**53 and 2**63 would wrap to -2**63 (float64, then int64) without a word."""
    if numbers.dtype.kind in "iu":  # exact integers: compare as they are
        return considered & ((numbers > EXACT_WHOLE) | (numbers < -EXACT_WHOLE))
    # A float of magnitude 2**53 may stand for 2**53 + 1 (given as int or text): look at those few.
    near = considered & (np.abs(numbers.astype("float64", copy=False)) >= EXACT_WHOLE)
    past = near.copy()
    for i in np.flatnonzero(near).tolist():
        past[i] = _magnitude(column[i]) > EXACT_WHOLE
    return past


def _magnitude(value: Any) -> Decimal:
    """|value| exactly (an int, a float or number text); infinite when it cannot be read."""
    if isinstance(value, np.generic):
        value = value.item()
    try:
        return abs(Decimal(value.strip() if isinstance(value, str) else value))
    except (InvalidOperation, TypeError, ValueError):
        return Decimal("Infinity")


def _shown(value: Any) -> str:
    """A value as the user gave it (`True`, not NumPy's `np.True_`)."""
    return repr(value.item() if isinstance(value, np.generic) else value)


Flag = Callable[[np.ndarray, Callable[[int], str]], None]


def _check_column(
    name: str, feature: FeatureSpec, column: np.ndarray, flag: Flag, absent: np.ndarray
) -> np.ndarray:
    """The column cast to the feature's type; problems reported through `flag(mask, message)`.

    Cells in `absent` (the object had no such key) are reported once as absent, by the caller."""
    missing = _missing(column)
    if feature.is_numeric:
        numbers = _numbers(column, missing)
        floats = numbers.astype("float64", copy=False)
        nan = np.isnan(floats)
        flag(nan & ~missing, lambda i: f"field {name!r}: {_shown(column[i])} is not a number")
        infinite = np.isinf(floats)
        flag(infinite, lambda i: f"field {name!r}: {_shown(column[i])} is not finite")
        low, high = feature.min, feature.max
        bad_range = np.zeros(len(floats), dtype=bool)
        if low is not None:
            bad_range |= floats < low
        if high is not None:
            bad_range |= floats > high
        flag(bad_range & ~infinite, lambda i: f"field {name!r}: {numbers[i]} is outside [{low}, {high}]")
        if feature.type == "integer":
            with np.errstate(invalid="ignore"):
                fractional = ~nan & (floats % 1 != 0)
            flag(fractional, lambda i: f"field {name!r}: {numbers[i]} is not a whole number")
            inexact = _past_exact(numbers, column, ~nan & ~infinite & ~bad_range)
            flag(
                inexact,
                lambda i: (
                    f"field {name!r}: {_shown(column[i])} is beyond ±2**53 ({EXACT_WHOLE}), "
                    "the whole numbers the model (float64) takes exactly"
                ),
            )
        result = floats
    else:
        values = _per_value(_without_missing(column, missing), lambda v: str(v).strip(), None)
        allowed = set(feature.categories or [])
        codes, uniques = pd.factorize(values, use_na_sentinel=True)  # values are text or None
        unknown = np.array([u not in allowed for u in uniques] + [False], dtype=bool)[codes]
        flag(unknown, lambda i: f"field {name!r}: {values[i]!r} is not one of {sorted(allowed)}")
        result = values
    if not feature.nullable:
        flag(missing & ~absent, lambda i: f"field {name!r}: a value is required")
    return result


def check_rows(rows: Rows, spec: DatasetSpec) -> tuple[pd.DataFrame, list[RowProblems]]:
    """Cast rows to the spec's types; return the valid rows and, per bad row, every reason.

    Vectorised per column (Python runs per distinct text value and per bad row, never per valid
    row): checking a batch costs a small fraction of scoring it. The valid rows keep their
    position in the input as index.
    """
    if isinstance(rows, pd.DataFrame):
        frame, absent_in = rows, {}
        absent = [name for name in spec.features if name not in frame.columns]
        if absent:  # a column missing from a table is a problem of the whole table
            raise InputError(absent_message(absent))
    else:
        records = _records(rows)
        if not records:
            raise InputError("input: no rows to predict")
        plain = plain_columns(records, spec)
        if plain is not None:
            return plain.frame, []
        frame = _records_frame(records)
        absent_in = {name: np.array([name not in r for r in records], dtype=bool) for name in spec.features}
    unknown = [c for c in frame.columns if c not in spec.features and c != spec.target]
    if unknown:
        raise InputError(f"unknown field(s) {unknown}; expected fields: {', '.join(spec.feature_names)}")
    problems: dict[int, list[str]] = {}

    def flag(mask: np.ndarray, message: Callable[[int], str]) -> None:
        for i in np.flatnonzero(mask).tolist():
            problems.setdefault(i, []).append(message(i))

    n = len(frame)
    no_absent = np.zeros(n, dtype=bool)
    for i in np.flatnonzero(np.any([*absent_in.values(), no_absent], axis=0)).tolist():
        names = [name for name, mask in absent_in.items() if mask[i]]
        problems.setdefault(i, []).append(absent_message(names))
    out: dict[str, np.ndarray] = {}
    for name, feature in spec.features.items():
        # a field absent from every object is no column: its cells count as absent, not null
        column = frame[name].to_numpy() if name in frame.columns else np.full(n, None, dtype=object)
        out[name] = _check_column(name, feature, column, flag, absent_in.get(name, no_absent))
    keep = None
    if problems:
        keep = np.ones(n, dtype=bool)
        keep[list(problems)] = False
        out = {name: values[keep] for name, values in out.items()}
    for name, feature in spec.features.items():
        if feature.type == "integer":
            out[name] = out[name].astype("int64")
    index = pd.RangeIndex(n) if keep is None else pd.Index(np.flatnonzero(keep))
    valid = pd.DataFrame(out, index=index, copy=False)
    bad = [RowProblems(int(i), reasons) for i, reasons in sorted(problems.items())]
    return valid, bad


def prepare_inputs(rows: Rows, spec: DatasetSpec) -> pd.DataFrame:
    """All rows must be valid; otherwise one InputError naming every field and problem."""
    valid, bad = check_rows(rows, spec)
    if bad:
        lines = [f"row {b.index}: " + "; ".join(b.reasons) for b in bad[:20]]
        more = f"\n... and {len(bad) - 20} more rows" if len(bad) > 20 else ""
        raise InputError("invalid input:\n  " + "\n  ".join(lines) + more)
    if valid.empty:
        raise InputError("input: no rows to predict")
    return valid


def checked_inputs(rows: Rows, spec: DatasetSpec) -> CheckedRows:
    """`prepare_inputs` for the front doors that score at once: rows already exactly what the spec
    asks come back as columns without pandas; any other input gets the full checks (the same
    InputError, word for word)."""
    if isinstance(rows, dict):
        rows = [rows]
    if isinstance(rows, list):
        plain = plain_columns(rows, spec)
        if plain is not None:
            return plain
    return CheckedRows(frame=prepare_inputs(rows, spec))
