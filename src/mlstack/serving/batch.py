"""Batch scoring: read an uploaded table, check every row, score the valid ones in chunks,
and give back the invalid rows with their reasons and the results as CSV."""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlstack.errors import InputError
from mlstack.serving.inputs import RowProblems, as_frame, check_rows
from mlstack.serving.loader import ModelServer
from mlstack.serving.scoring import Prediction, as_prediction, score

MAX_UPLOAD_ROWS = 2_000_000


def read_table(filename: str, data: bytes) -> pd.DataFrame:
    """An uploaded CSV or Parquet file as a DataFrame; InputError says what is wrong with it."""
    lower = filename.lower()
    try:
        if lower.endswith((".parquet", ".pq")):
            frame = pd.read_parquet(io.BytesIO(data))
        elif lower.endswith((".csv", ".txt")):
            if not data.strip():
                raise InputError(f"{filename}: the file is empty")
            # Only an empty cell is missing: "NaN" or "NA" written in a cell is refused by the
            # input checks, as the CLI does (data.sources.parse(only_empty_is_missing=True)).
            frame = pd.read_csv(io.BytesIO(data), keep_default_na=False, na_values=[""])
        else:
            raise InputError(f"{filename}: expected a .csv or .parquet file")
    except InputError:
        raise
    except Exception as exc:
        raise InputError(f"{filename}: cannot be read ({type(exc).__name__}: {str(exc)[:200]})") from None
    if frame.columns.duplicated().any():
        dupes = sorted({str(c) for c in frame.columns[frame.columns.duplicated()]})
        raise InputError(f"{filename}: duplicate column(s) {dupes}")
    if len(frame) > MAX_UPLOAD_ROWS:
        raise InputError(f"{filename}: {len(frame)} rows; at most {MAX_UPLOAD_ROWS} per upload")
    if frame.empty:
        raise InputError(f"{filename}: no data rows")
    return frame


@dataclass
class BatchResult:
    """A scored batch: valid rows with their predictions, and every invalid row with reasons."""

    scored: pd.DataFrame  # index: row position in the input; features, [target], prediction, proba_*
    problems: list[RowProblems]
    rows: int
    name: str
    version: str
    alias: str
    run_id: str
    stale: bool = False


ChunkCallback = Callable[[pd.DataFrame, Prediction, int, int], None]


def score_batch(
    server: ModelServer,
    rows: pd.DataFrame | list[dict],
    *,
    chunk_size: int = 100_000,
    on_chunk: ChunkCallback | None = None,
) -> BatchResult:
    """Check every row, score the valid ones in chunks with one model version.

    `on_chunk(features, prediction, rows_done, rows_valid)` runs after each chunk (progress bars,
    the prediction log). Raises InputError only for problems of the whole file (unknown or
    absent columns); bad rows are returned in `problems`. Chunks are large on purpose:
    every model call has a fixed cost (a forest pays it per tree).
    """
    loaded = server.current()  # one version for the whole batch, even if the alias moves
    spec = server.spec
    frame = as_frame(rows).reset_index(drop=True)
    # objects go in as given: a key absent from one object is that row's problem, not a null
    valid, problems = check_rows(frame if isinstance(rows, pd.DataFrame) else rows, spec)
    step = max(1, chunk_size)
    values_parts: list[np.ndarray] = []
    proba_parts: list[np.ndarray] = []
    total = len(valid)
    for start in range(0, total, step):
        features = valid.iloc[start : start + step]
        values, proba = score(loaded, features, spec)
        values_parts.append(values)
        if proba is not None:
            proba_parts.append(proba)
        if on_chunk is not None:
            prediction = as_prediction(loaded, values, proba, server.alias, server.stale)
            on_chunk(features, prediction, start + len(features), total)
    scored = valid.copy()
    if spec.target in frame:
        scored[spec.target] = frame.loc[valid.index, spec.target]
    scored["prediction"] = np.concatenate(values_parts) if values_parts else np.array([], dtype=object)
    if proba_parts:
        proba_all = np.concatenate(proba_parts)
        for j, cls in enumerate(loaded.classes):
            scored[f"proba_{cls}"] = proba_all[:, j]
    return BatchResult(
        scored, problems, len(frame), loaded.name, loaded.version, server.alias, loaded.run_id, server.stale
    )


def problems_frame(frame: pd.DataFrame, problems: list[RowProblems], limit: int = 1000) -> pd.DataFrame:
    """Invalid rows: data row number (1 = first row after the header), reasons, values as given."""
    if not problems:
        return pd.DataFrame(columns=["row", "reasons"])
    shown = problems[:limit]
    index = [p.index for p in shown]
    values = frame.reset_index(drop=True).iloc[index].reset_index(drop=True)
    head = pd.DataFrame({"row": [i + 1 for i in index], "reasons": ["; ".join(p.reasons) for p in shown]})
    return pd.concat([head, values.astype("object")], axis=1)


def results_csv(scored: pd.DataFrame) -> bytes:
    """Scored rows as CSV, with the input's 1-based data row number first; formula-safe cells."""
    from mlstack.security.spreadsheet import safe_csv

    out = scored.copy()
    out.insert(0, "row", scored.index + 1)
    return safe_csv(out)
