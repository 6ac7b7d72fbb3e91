"""Scoring: a loaded model version answers checked rows, as one typed `Prediction`."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import pandas as pd

from mlstack import json_rows
from mlstack.data.spec import DatasetSpec
from mlstack.model.evaluate import scores
from mlstack.model.stability import check_outputs
from mlstack.serving.plain_rows import CheckedRows

if TYPE_CHECKING:
    from mlstack.serving.loader import LoadedModel


class ClassProbabilities(Sequence[dict[str, float]]):
    """Each row's probability by class, kept as the model's matrix (rows x classes, in the order of
    `classes`). A row's dict is made when it is asked for: an API answer or a log write of 1,000
    rows encodes the columns (`json_rows.by_key`) and never needs the 1,000 dicts (0.5 ms)."""

    def __init__(self, classes: Sequence[Any], matrix: np.ndarray) -> None:
        self.classes = [str(c) for c in classes]
        self.matrix = matrix

    def __len__(self) -> int:
        return len(self.matrix)

    @overload
    def __getitem__(self, index: int) -> dict[str, float]: ...
    @overload
    def __getitem__(self, index: slice) -> list[dict[str, float]]: ...
    def __getitem__(self, index: int | slice) -> dict[str, float] | list[dict[str, float]]:
        if isinstance(index, slice):
            return [dict(zip(self.classes, row, strict=True)) for row in self.matrix[index].tolist()]
        return dict(zip(self.classes, self.matrix[index].tolist(), strict=True))

    def __iter__(self) -> Iterator[dict[str, float]]:
        return iter(self[:])

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    def columns(self) -> dict[str, list[float]]:
        """One list of probabilities per class."""
        return {c: self.matrix[:, j].tolist() for j, c in enumerate(self.classes)}


@dataclass
class Prediction:
    """What one model version answered: a value per row, class probabilities for classifiers,
    and which model, version and alias answered (stale: the registry could not be re-checked)."""

    predictions: list[Any]
    probabilities: Sequence[dict[str, float]] | None  # a ClassProbabilities when the model answered
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
            for cls, values in json_rows.by_key(self.probabilities).items():
                out[f"proba_{cls}"] = values
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
    probabilities = ClassProbabilities(loaded.classes, proba) if proba is not None else None
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


class ScoredInParts:
    """`score` of checked rows in parts of `size` rows (the last one of `size // 2`) by the ONNX
    form, one part after the other on a thread of its own, started at once; iterating yields each
    part (its rows, values, probabilities) as soon as it is scored.

    onnxruntime lets go of the GIL while it scores, so the caller can log part k while part k+1 is
    scored: on two cores a 1,000-row request then pays for its log write mostly in the scoring's
    shadow instead of after it. The parts are scored in order, one at a time, like one call. After
    the last part the outputs are checked as a whole (NumericInstabilityError with the same words
    as `score`), then `values` and `proba` hold them all."""

    def __init__(self, loaded: LoadedModel, checked: CheckedRows, spec: DatasetSpec, size: int) -> None:
        self.where = f"model {loaded.name} v{loaded.version}"
        self.values: np.ndarray | None = None
        self.proba: np.ndarray | None = None
        columns, count = checked.columns, len(checked)
        # The last part is half a part: what the caller does after the last part is not hidden.
        last = max(count - size // 2, 0)
        self.parts = [slice(start, min(start + size, last)) for start in range(0, last, size)]
        self.parts.append(slice(last, count))
        self._done: queue.SimpleQueue = queue.SimpleQueue()
        self._stop = threading.Event()  # the caller stopped reading (e.g. an error): score no more

        def run() -> None:
            for part in self.parts:
                if self._stop.is_set():
                    return
                try:
                    self._done.put(scores(loaded.predictor, {k: v[part] for k, v in columns.items()}, spec))
                except BaseException as exc:  # handed to the caller, which raises it
                    self._done.put(exc)
                    return

        threading.Thread(target=run, name="mlstack-scoring", daemon=True).start()

    def __iter__(self) -> Iterator[tuple[slice, np.ndarray, np.ndarray | None]]:
        values, probabilities = [], []
        try:
            for part in self.parts:
                out = self._done.get()
                if isinstance(out, BaseException):
                    raise out
                values.append(out[0])
                probabilities.append(out[1])
                yield part, out[0], out[1]
        finally:
            self._stop.set()
        self.values = np.concatenate(values)
        self.proba = None if probabilities[0] is None else np.concatenate(probabilities)
        check_outputs(self.values, self.proba, self.where)
