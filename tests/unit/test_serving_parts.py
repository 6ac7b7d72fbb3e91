"""A large request is scored in parts while the parts already scored are logged
(`service._predict_logging_meanwhile`): the same answer and log rows as one call, and the same
all-or-nothing outcomes when the log or the model fails part-way."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mlstack.data.synthetic import generate
from mlstack.errors import NumericInstabilityError
from mlstack.monitoring import prediction_log
from mlstack.monitoring.prediction_log import read_predictions
from mlstack.serving import scoring, service
from mlstack.serving.loader import ModelServer

ROWS = 1000


@pytest.fixture(scope="module")
def records(trained):
    ctx, _ = trained
    frame = generate(ROWS, 11, ctx.spec)[ctx.spec.feature_names]
    rows = [
        {k: None if isinstance(v, float) and math.isnan(v) else v for k, v in r.items()}
        for r in frame.to_dict("records")
    ]
    assert any(None in r.values() for r in rows)  # missing values go through the parts too
    return rows


@pytest.fixture
def parts_made(monkeypatch):
    """How many requests took the parts path."""
    made: list[int] = []
    real = service.ScoredInParts

    def counted(*args, **kwargs):
        made.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(service, "ScoredInParts", counted)
    return made


def _logged(settings, source: str):
    frame = read_predictions(settings)
    return frame[frame["source"] == source].reset_index(drop=True) if not frame.empty else frame


def test_parts_give_the_answer_and_the_log_rows_of_one_call(trained, records, parts_made, monkeypatch):
    ctx, _ = trained
    server = ModelServer(ctx.settings, ctx.spec)
    assert server.current().fast is not None  # the parts path is the ONNX form's
    in_parts = service.predict(server, records, "unit-parts")
    assert parts_made == [1]
    monkeypatch.setattr(service, "OVERLAP_ROWS", ROWS + 1)
    one_call = service.predict(server, records, "unit-one-call")
    assert parts_made == [1]

    assert in_parts.log.ok and in_parts.log.written == ROWS
    assert in_parts.prediction.predictions == one_call.prediction.predictions
    assert in_parts.prediction.probabilities == one_call.prediction.probabilities
    logged, reference = _logged(ctx.settings, "unit-parts"), _logged(ctx.settings, "unit-one-call")
    assert logged["prediction_id"].tolist() == list(in_parts.prediction_ids)
    columns = [*ctx.spec.feature_names, "prediction", "model_version"]
    assert logged[columns].equals(reference[columns])


def test_a_log_failing_part_way_logs_none_of_the_request_and_the_answer_is_whole(
    trained, records, parts_made, monkeypatch
):
    ctx, _ = trained
    real_append, calls = prediction_log.LogTransaction.append, []

    def append(self, *args, **kwargs):
        calls.append(1)
        if len(calls) == 3:
            raise OSError("disk full")
        return real_append(self, *args, **kwargs)

    monkeypatch.setattr(prediction_log.LogTransaction, "append", append)
    served = service.predict(ModelServer(ctx.settings, ctx.spec), records, "unit-parts-log-fails")
    assert parts_made == [1] and len(calls) == 3  # no part is written after the failure
    assert len(served.prediction.predictions) == ROWS and len(served.prediction_ids) == ROWS
    assert served.log.written == 0 and served.log.failed == ROWS
    assert served.log.error.startswith("1,000 of 1,000 predictions could not be written")
    assert "OSError: disk full" in served.log.error
    assert _logged(ctx.settings, "unit-parts-log-fails").empty  # the two parts written: rolled back


def test_a_commit_that_fails_counts_every_row_as_not_logged(trained, records, parts_made, monkeypatch):
    ctx, _ = trained

    def commit(self):
        raise OSError("database is locked")

    monkeypatch.setattr(prediction_log.LogTransaction, "commit", commit)
    served = service.predict(ModelServer(ctx.settings, ctx.spec), records, "unit-parts-commit")
    assert parts_made == [1]
    assert served.log.written == 0 and served.log.failed == ROWS and "database is locked" in served.log.error
    assert _logged(ctx.settings, "unit-parts-commit").empty


def test_unusable_outputs_in_one_part_refuse_the_request_as_one_call_would(
    trained, records, parts_made, monkeypatch
):
    """The fourth part answers NaN for its first row: the request fails with the words of one call
    over the whole request (row 600 of 1000), and nothing is logged."""
    ctx, _ = trained
    real_scores, calls = scoring.scores, []

    def scores(model, features, spec):
        calls.append(len(next(iter(features.values()))))
        values, proba = real_scores(model, features, spec)
        if len(calls) == 4:
            proba = proba.copy()
            proba[0, :] = np.nan
        return values, proba

    monkeypatch.setattr(scoring, "scores", scores)
    server = ModelServer(ctx.settings, ctx.spec)
    version = server.current().version
    with pytest.raises(NumericInstabilityError) as refused:
        service.predict(server, records, "unit-parts-nan")
    assert str(refused.value) == (
        f"model {server.current().name} v{version}: 1 of 1000 rows have NaN or infinite "
        "probabilities (rows 600)"
    )
    assert parts_made == [1] and calls == [200, 200, 200, 200, 100, 100]
    assert _logged(ctx.settings, "unit-parts-nan").empty


def test_from_overlap_rows_on_the_log_is_written_part_by_part_in_one_transaction(
    trained, records, parts_made, monkeypatch
):
    ctx, _ = trained
    server = ModelServer(ctx.settings, ctx.spec)
    appended: list[int] = []  # rows of each append, in order
    transactions: list[int] = []
    real_append, real_init = prediction_log.LogTransaction.append, prediction_log.LogTransaction.__init__

    def append(self, features, result, *args, **kwargs):
        appended.append(len(result.predictions))
        return real_append(self, features, result, *args, **kwargs)

    def init(self, settings):
        transactions.append(1)
        real_init(self, settings)

    monkeypatch.setattr(prediction_log.LogTransaction, "append", append)
    monkeypatch.setattr(prediction_log.LogTransaction, "__init__", init)
    below = service.predict(server, records[: service.OVERLAP_ROWS - 1], "unit-below")
    assert below.log.ok and parts_made == [] and appended == [service.OVERLAP_ROWS - 1]
    appended.clear()
    transactions.clear()
    at = service.predict(server, records[: service.OVERLAP_ROWS], "unit-at")
    # parts of PART_ROWS, the last one half a part; one transaction for all of them
    assert at.log.ok and parts_made == [1] and transactions == [1]
    assert appended == [200, 100, 100] and service.PART_ROWS == 200 and service.OVERLAP_ROWS == 400
    assert len(_logged(ctx.settings, "unit-at")) == service.OVERLAP_ROWS
