"""The predict-and-log service: check the inputs, predict with the served alias, log every answer.

Every front door calls it (`mlstack predict`, the Streamlit Predict and Batch pages, the
prediction API in `mlstack.api`), so each one refuses the same inputs with the same words and
treats the prediction log the same way: a log that cannot be written never loses or hides a
prediction. The answer comes back with a `LogOutcome` saying so, and each front door shows
`LogOutcome.error` as a warning.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from mlstack.config import Settings, mask_url_password
from mlstack.monitoring.prediction_log import LogTransaction, input_texts, new_prediction_ids
from mlstack.serving.batch import BatchResult, score_batch
from mlstack.serving.inputs import Rows, checked_inputs
from mlstack.serving.loader import LoadedModel, ModelServer
from mlstack.serving.plain_rows import CheckedRows
from mlstack.serving.scoring import Prediction, ScoredInParts, as_prediction, predict_with


@dataclass(frozen=True)
class LogOutcome:
    """What the prediction log made of one answer: rows written, rows not written, and why."""

    written: int
    failed: int = 0
    error: str | None = None  # for a person: what failed, where (password masked) and why

    @property
    def ok(self) -> bool:
        """True when every prediction of the answer is in the log."""
        return self.error is None


@dataclass(frozen=True)
class ServedPrediction:
    """One answer of the service: the prediction, the checked inputs it was made from (one row
    per prediction, as the model saw them), whether the prediction log holds it, and the id of
    each prediction (the key of its log row, to join ground truth to later)."""

    prediction: Prediction
    checked: CheckedRows
    log: LogOutcome
    prediction_ids: tuple[str, ...] = ()

    @property
    def features(self) -> pd.DataFrame:
        """The checked inputs as a DataFrame (made on first use: the API's answer needs none)."""
        return self.checked.frame


@dataclass(frozen=True)
class ServedBatch:
    """A scored batch (valid rows scored, invalid rows with reasons) and what the log holds of it."""

    batch: BatchResult
    log: LogOutcome


def _log_failure(settings: Settings, exc: Exception, failed: int, total: int) -> str:
    what = "The prediction" if total == 1 else f"{failed:,} of {total:,} predictions"
    return (
        f"{what} could not be written to the prediction log "
        f"(`{mask_url_password(settings.resolved_prediction_log_url)}`): "
        f"{type(exc).__name__}: {str(exc)[:200]}"
    )


@dataclass(frozen=True)
class Part:
    """Some rows of an answer, to log: their inputs (and their JSON texts), prediction and ids
    (fresh ones when None)."""

    features: pd.DataFrame | Mapping[str, np.ndarray]
    prediction: Prediction
    ids: list[str] | None = None
    inputs: list[str] | None = None


class _LogWriter:
    """Appends answers to the prediction log; after the first failure it stops trying (a log
    that is down would otherwise stall every chunk of a batch) and counts what was not written."""

    def __init__(self, settings: Settings, source: str) -> None:
        self.settings, self.source = settings, source
        self.written = self.failed = 0
        self.exc: Exception | None = None

    def write(
        self,
        features: pd.DataFrame | Mapping[str, np.ndarray],
        prediction: Prediction,
        ids: list[str] | None = None,
    ) -> None:
        """Log one answer (or one chunk of a batch) in a transaction of its own."""
        self.write_parts([Part(features, prediction, ids)])

    def write_parts(self, parts: Iterable[Part]) -> None:
        """Log each part as `parts` yields it, in one transaction: the log holds all of them or
        none. A log failure stops the writing, not the parts (the answer still needs them); an
        exception from `parts` itself (scoring) propagates, and nothing is logged."""
        log: LogTransaction | None = None
        rows = 0
        try:
            for part in parts:
                rows += len(part.prediction.predictions)
                if self.exc is None:
                    try:
                        log = log or LogTransaction(self.settings)
                        log.append(part.features, part.prediction, self.source, part.ids, inputs=part.inputs)
                    except Exception as exc:  # any failure of the log: the answer still goes out
                        self.exc = exc
            if self.exc is None and log is not None:
                try:
                    log.commit()
                    self.written += rows
                    return
                except Exception as exc:
                    self.exc = exc
            self.failed += rows
        finally:
            if log is not None:
                # a connection that is gone: the outcome already says so, and an error of scoring
                # on its way out must not be replaced by this one
                with contextlib.suppress(Exception):
                    log.close()

    def outcome(self) -> LogOutcome:
        if self.exc is None:
            return LogOutcome(self.written)
        total = self.written + self.failed
        error = _log_failure(self.settings, self.exc, self.failed, total)
        return LogOutcome(self.written, self.failed, error)


def predict(
    server: ModelServer, rows: Rows, source: str, *, loaded: LoadedModel | None = None
) -> ServedPrediction:
    """Check `rows` (InputError names every bad field), predict with the served alias, and log
    each prediction under `source` (e.g. "cli", "streamlit-predict").

    `loaded` pins the version that answers (a page that already showed which version serves it);
    by default it is the server's current one. Registry errors (no champion, unreachable before
    any load) propagate; a prediction log error only sets `log.error`.
    """
    checked = checked_inputs(rows, server.spec)  # a refused input never reaches the registry
    model = loaded if loaded is not None else server.current()
    ids = new_prediction_ids(len(checked))
    writer = _LogWriter(server.settings, source)
    if model.fast is not None and len(checked) >= OVERLAP_ROWS:
        prediction = _predict_logging_meanwhile(server, model, checked, ids, writer)
    else:
        prediction = predict_with(model, checked, server.spec, server.alias, server.stale)
        writer.write(checked.columns, prediction, ids)
    return ServedPrediction(prediction, checked, writer.outcome(), tuple(ids))


# From this many rows the log is written part by part while the ONNX form scores the next part;
# below it one call costs less than a thread and a hand-over per part.
OVERLAP_ROWS = 400
PART_ROWS = 200


def _predict_logging_meanwhile(
    server: ModelServer, model: LoadedModel, checked: CheckedRows, ids: list[str], writer: _LogWriter
) -> Prediction:
    """`predict_with` and `writer.write` of the same rows, with the log write of each part done
    while the model scores the next (`scoring.ScoredInParts`); one answer, one transaction.
    The inputs' JSON texts are made while the first part is scored (they need no prediction)."""
    columns = checked.columns
    scored = ScoredInParts(model, checked, server.spec, PART_ROWS)

    def parts() -> Iterator[Part]:
        texts = input_texts(columns)
        for part, values, proba in scored:
            prediction = as_prediction(model, values, proba, server.alias, server.stale)
            yield Part({k: v[part] for k, v in columns.items()}, prediction, ids[part], texts[part])

    writer.write_parts(parts())
    assert scored.values is not None  # every part was scored and checked
    return as_prediction(model, scored.values, scored.proba, server.alias, server.stale)


Progress = Callable[[int, int], None]


def predict_batch(
    server: ModelServer,
    rows: pd.DataFrame | list[dict],
    source: str,
    *,
    chunk_size: int = 100_000,
    on_progress: Progress | None = None,
) -> ServedBatch:
    """Score a batch with one model version (see `batch.score_batch`) and log each chunk of
    predictions as it is scored. `on_progress(rows_done, rows_valid)` runs after each chunk.
    Invalid rows are in `batch.problems`; InputError only for a file that does not fit the spec."""
    writer = _LogWriter(server.settings, source)

    def on_chunk(features: pd.DataFrame, prediction: Prediction, done: int, total: int) -> None:
        writer.write(features, prediction)
        if on_progress is not None:
            on_progress(done, total)

    batch = score_batch(server, rows, chunk_size=chunk_size, on_chunk=on_chunk)
    return ServedBatch(batch, writer.outcome())
