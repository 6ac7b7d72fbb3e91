"""CSV exports a spreadsheet cannot run (issue 15 §3): formula injection, neutralised.

A cell that starts with `=`, `+`, `-`, `@`, a tab or a carriage return is a formula to Excel,
LibreOffice and Google Sheets. Such text cells get a leading `'`, which spreadsheets show as
text and do not evaluate (OWASP's CSV injection advice). Numbers are left alone: `-1.5` stays a
number, only text is escaped.
"""

from __future__ import annotations

import pandas as pd

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def escape_cell(value: object) -> object:
    """`value` with a leading `'` when it is text a spreadsheet would run as a formula."""
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def safe_frame(frame: pd.DataFrame) -> pd.DataFrame:
    """A copy of `frame` whose text cells (and column names) cannot run as formulas."""
    out = frame.copy()
    out.columns = [escape_cell(c) for c in out.columns]
    for column in out.columns:
        series = out[column]
        if series.dtype == object or pd.api.types.is_string_dtype(series):
            out[column] = series.map(escape_cell)
    return out


def safe_csv(frame: pd.DataFrame) -> bytes:
    """`frame` as UTF-8 CSV bytes (no index), every text cell formula-safe."""
    return safe_frame(frame).to_csv(index=False).encode()
