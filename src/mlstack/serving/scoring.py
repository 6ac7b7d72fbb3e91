"""Scoring: a loaded model version answers checked rows, as one typed `Prediction`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from mlstack.data.spec import DatasetSpec
from mlstack.model.evaluate import scores
from mlstack.model.stability import check_outputs
from mlstack.serving.plain_rows import CheckedRows

if TYPE_CHECKING:
    from mlstack.serving.loader import LoadedModel


@dataclass
class Prediction:
    """What one model version answered: a value per row, class probabilities for classifiers,
    and which model, version and alias answered (stale: the registry could not be re-checked)."""

    predictions: list[Any]
    probabilities: list[dict[str, float]] | None
    name: str
    version: str
    alias: str
    run_id: str
    stale: bool = False
    at: str = field(default_factory=lambda: datetime.now(UTC).isoformat(timespec="milliseconds"))

    def to_frame(self, index: pd.Index | None = None) -> pd.DataFrame:
        """One row per prediction: `prediction`, then `proba_<class>` columns for classifiers."""
        out = pd.DataFrame({"prediction": self.predictions}, index=index)
        if self.probabilities:
            for cls in self.probabilities[0]:
                out[f"proba_{cls}"] = [p[cls] for p in self.probabilities]
        return out


def score(
    loaded: LoadedModel, features: pd.DataFrame | CheckedRows, spec: DatasetSpec
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted values and, for classifiers, class probabilities (columns: `loaded.classes`),
    from the ONNX form when the version has one that passed parity, else from the pipeline.

    NumericInstabilityError when the outputs are NaN/infinite or probabilities do not sum to 1."""
    if isinstance(features, CheckedRows):  # the ONNX form reads the columns, the pipeline a frame
        values, proba = scores(loaded.predictor, features.columns if loaded.fast else features.frame, spec)
    else:
        values, proba = scores(loaded.predictor, features, spec)
    check_outputs(values, proba, f"model {loaded.name} v{loaded.version}")
    return values, proba


def as_prediction(
    loaded: LoadedModel, values: np.ndarray, proba: np.ndarray | None, alias: str, stale: bool
) -> Prediction:
    """Scores of `loaded` as a Prediction (probabilities keyed by class name)."""
    probabilities = None
    if proba is not None:
        names = loaded.classes
        probabilities = [dict(zip(names, row, strict=True)) for row in proba.tolist()]
    return Prediction(
        values.tolist(), probabilities, loaded.name, loaded.version, alias, loaded.run_id, stale
    )


def predict_with(
    loaded: LoadedModel,
    features: pd.DataFrame | CheckedRows,
    spec: DatasetSpec,
    alias: str,
    stale: bool = False,
) -> Prediction:
    """Score checked `features` (see `inputs.prepare_inputs`) with one loaded model version."""
    values, proba = score(loaded, features, spec)
    return as_prediction(loaded, values, proba, alias, stale)
