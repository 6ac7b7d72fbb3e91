"""Numeric stability of a model's outputs: finite predictions, probabilities that sum to 1.

Checked on the holdout at training (`train.evaluate`) and on every scored batch at serving
(`serving.scoring.score`); a failure is a `NumericInstabilityError`, never a silent answer.
"""

from __future__ import annotations

import numpy as np

from mlstack.errors import NumericInstabilityError

# float32 graphs (the ONNX form) sum a row of probabilities to within ~1e-7; 1e-4 leaves margin.
PROBA_SUM_TOLERANCE = 1e-4
_SHOWN = 5  # rows named in an error


def _rows(mask: np.ndarray) -> str:
    rows = np.flatnonzero(mask)
    more = f" and {len(rows) - _SHOWN} more" if len(rows) > _SHOWN else ""
    return ", ".join(str(int(r)) for r in rows[:_SHOWN]) + more


def check_outputs(
    predicted: np.ndarray,
    proba: np.ndarray | None,
    where: str,
    tolerance: float = PROBA_SUM_TOLERANCE,
) -> None:
    """Raise NumericInstabilityError naming `where`, the problem and the rows; else return None.

    Numeric predictions must be finite; probabilities must be finite, within [0, 1] and sum to
    1 per row within `tolerance`. Class labels (non-numeric predictions) are not checked.
    """
    values = np.asarray(predicted)
    if values.dtype.kind in "fc":
        bad = ~np.isfinite(values)
        if bad.any():
            raise NumericInstabilityError(
                f"{where}: {int(bad.sum())} of {len(values)} predictions are NaN or infinite "
                f"(rows {_rows(bad)})"
            )
    if proba is None:
        return
    matrix = np.asarray(proba, dtype="float64")
    if matrix.ndim != 2 or matrix.shape[0] != len(values):
        raise NumericInstabilityError(
            f"{where}: probabilities have shape {matrix.shape}, expected ({len(values)}, classes)"
        )
    bad = ~np.isfinite(matrix).all(axis=1)
    if bad.any():
        raise NumericInstabilityError(
            f"{where}: {int(bad.sum())} of {len(values)} rows have NaN or infinite probabilities "
            f"(rows {_rows(bad)})"
        )
    bad = np.asarray(((matrix < -tolerance) | (matrix > 1 + tolerance)).any(axis=1))
    if bad.any():
        raise NumericInstabilityError(
            f"{where}: {int(bad.sum())} of {len(values)} rows have probabilities outside [0, 1] "
            f"(rows {_rows(bad)})"
        )
    off = np.abs(matrix.sum(axis=1) - 1.0)
    bad = off > tolerance
    if bad.any():
        raise NumericInstabilityError(
            f"{where}: {int(bad.sum())} of {len(values)} rows have probabilities that do not sum "
            f"to 1 (largest gap {float(off.max()):.3g}, tolerance {tolerance:g}; rows {_rows(bad)})"
        )
