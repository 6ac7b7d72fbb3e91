"""Numeric stability (Mo5): NaN/inf outputs and probabilities off 1 are refused, at training
(the evaluate step, on the holdout) and at serving (the one scoring path), with a clear error."""

from __future__ import annotations

import time

import numpy as np
import pandas as pd
import pytest

from mlstack.data.spec import load_spec
from mlstack.errors import NumericInstabilityError
from mlstack.model.stability import check_outputs
from mlstack.serving.loader import LoadedModel
from mlstack.serving.scoring import predict_with

CLASSES = np.array(["Adelie", "Chinstrap", "Gentoo"])


def test_good_outputs_pass():
    check_outputs(np.array([1.5, 2.0]), None, "m")
    check_outputs(np.array(["Adelie", "Gentoo"]), np.array([[0.7, 0.2, 0.1], [0.0, 0.0, 1.0]]), "m")
    # float32 rounding of a probability row (the ONNX form) is within the tolerance
    check_outputs(np.array(["a"]), np.array([[0.3333333, 0.3333333, 0.3333333]], dtype="float32"), "m")


@pytest.mark.parametrize(
    ("predicted", "proba", "fragment"),
    [
        (np.array([1.0, np.nan, np.inf]), None, "2 of 3 predictions are NaN or infinite (rows 1, 2)"),
        (
            CLASSES[:2],
            np.array([[0.5, 0.5, 0.0], [np.nan, 0.5, 0.5]]),
            "NaN or infinite probabilities (rows 1)",
        ),
        (CLASSES[:2], np.array([[0.5, 0.5, 0.0], [0.5, 0.5, 0.5]]), "do not sum to 1 (largest gap 0.5"),
        (CLASSES[:1], np.array([[1.5, -0.5, 0.0]]), "probabilities outside [0, 1] (rows 0)"),
        (CLASSES[:2], np.array([[0.5, 0.5, 0.0]]), "probabilities have shape (1, 3), expected (2, classes)"),
    ],
)
def test_bad_outputs_are_refused_naming_the_model_and_the_rows(predicted, proba, fragment):
    with pytest.raises(NumericInstabilityError, match=r"^model m v1: ") as caught:
        check_outputs(predicted, proba, "model m v1")
    assert fragment in str(caught.value)


def test_many_bad_rows_are_counted_not_all_listed():
    with pytest.raises(NumericInstabilityError, match=r"rows 0, 1, 2, 3, 4 and 95 more"):
        check_outputs(np.full(100, np.nan), None, "m")


class _Broken:
    """A classifier whose probabilities do not sum to 1 (what a broken export could produce)."""

    classes_ = CLASSES

    def predict_proba(self, features: pd.DataFrame) -> np.ndarray:
        return np.tile([0.6, 0.6, 0.1], (len(features), 1))


def test_serving_refuses_a_model_whose_probabilities_do_not_sum_to_1():
    spec = load_spec("penguins")
    loaded = LoadedModel("penguins-classifier", "7", "run-x", _Broken(), time.time())
    rows = pd.DataFrame([{name: None for name in spec.feature_names}] * 3)
    with pytest.raises(
        NumericInstabilityError, match=r"model penguins-classifier v7: 3 of 3 rows .* sum to 1"
    ):
        predict_with(loaded, rows, spec, "champion")


def test_training_refuses_a_model_with_nan_outputs_on_its_holdout(trained, monkeypatch):
    """The evaluate step scores the run's holdout: NaN probabilities fail it before any metric."""
    from mlstack import lifecycle
    from mlstack.model import evaluate as evaluate_module

    ctx, summary = trained
    real = evaluate_module.scores

    def nan_scores(model, features, spec):
        predicted, proba = real(model, features, spec)
        proba = proba.copy()
        proba[0, :] = np.nan
        return predicted, proba

    monkeypatch.setattr(evaluate_module, "scores", nan_scores)
    with pytest.raises(NumericInstabilityError, match=r"on its holdout: 1 of \d+ rows have NaN"):
        lifecycle.evaluate(ctx, summary["train"]["run_id"])
