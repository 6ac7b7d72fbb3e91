"""Training on big batches: rows per tree capped for random forests, fit on several cores."""

from __future__ import annotations

import numpy as np

from mlstack.data.spec import load_spec
from mlstack.data.synthetic import generate
from mlstack.model.estimator import build, model_inputs
from mlstack.model.train import fit

SPEC = load_spec("penguins")


def _forest(**kwargs):
    return build(SPEC, "random_forest", dict(SPEC.hyperparams), 42, **kwargs).named_steps["estimator"]


def test_rows_per_tree_are_capped_only_above_the_cap():
    assert _forest(train_rows=750_000, max_tree_samples=100_000).max_samples == 100_000
    assert _forest(train_rows=80_000, max_tree_samples=100_000).max_samples is None
    assert _forest(train_rows=750_000, max_tree_samples=0).max_samples is None
    assert _forest().max_samples is None


def test_an_explicit_max_samples_or_no_bootstrap_wins_over_the_cap():
    explicit = build(SPEC, "random_forest", {"max_samples": 0.5}, 42, train_rows=10**6, max_tree_samples=10)
    assert explicit.named_steps["estimator"].max_samples == 0.5
    no_bootstrap = build(
        SPEC, "random_forest", {"bootstrap": False}, 42, train_rows=10**6, max_tree_samples=10
    )
    assert no_bootstrap.named_steps["estimator"].max_samples is None


def test_estimators_without_max_samples_are_left_alone():
    diabetes = load_spec("diabetes")
    model = build(diabetes, "gradient_boosting", {}, 0, train_rows=10**6, max_tree_samples=10)
    assert "max_samples" not in model.named_steps["estimator"].get_params()


def test_fit_on_all_cores_gives_the_same_model_and_serves_on_one():
    frame = generate(600, seed=3)
    features, target = model_inputs(frame, SPEC), frame[SPEC.target]
    params = {**SPEC.hyperparams, "n_estimators": 20}
    serial = build(SPEC, "random_forest", params, 42)
    parallel = build(SPEC, "random_forest", params, 42)
    assert fit(serial, features, target, 1, params) == 1
    assert fit(parallel, features, target, -1, params) == -1
    assert parallel.named_steps["estimator"].n_jobs == 1  # per-request predictions stay serial
    np.testing.assert_array_equal(serial.predict_proba(features), parallel.predict_proba(features))


def test_an_explicit_n_jobs_is_kept():
    frame = generate(200, seed=4)
    params = {**SPEC.hyperparams, "n_estimators": 5, "n_jobs": 2}
    model = build(SPEC, "random_forest", params, 42)
    assert fit(model, model_inputs(frame, SPEC), frame[SPEC.target], -1, params) == 2
    assert model.named_steps["estimator"].n_jobs == 2
