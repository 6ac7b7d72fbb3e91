"""The scikit-learn Pipeline (imputation, scaling, one-hot, estimator) built from a spec."""

from __future__ import annotations

from typing import Any

import pandas as pd
from sklearn.compose import ColumnTransformer
from sklearn.impute import SimpleImputer
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import OneHotEncoder, StandardScaler

from mlstack.data.spec import DatasetSpec
from mlstack.errors import ConfigError

# The types a fitted pipeline of `build` holds beyond the ones skops trusts by default (scikit-learn
# estimators, numpy, builtins). Models are loaded with this list and never with the one in their
# own MLmodel file; tests/unit/test_model_artifacts.py derives it again from every estimator.
TRUSTED_TYPES: tuple[str, ...] = (
    "numpy.dtype",
    "sklearn.ensemble._hist_gradient_boosting.predictor.TreePredictor",
    "sklearn.tree._tree.Tree",
)


def _estimators() -> dict[str, dict[str, Any]]:
    from sklearn.ensemble import (
        GradientBoostingRegressor,
        HistGradientBoostingClassifier,
        RandomForestClassifier,
        RandomForestRegressor,
    )
    from sklearn.linear_model import LogisticRegression, Ridge

    return {
        "random_forest": {
            "classification": RandomForestClassifier,
            "regression": RandomForestRegressor,
        },
        "gradient_boosting": {
            "classification": HistGradientBoostingClassifier,
            "regression": GradientBoostingRegressor,
        },
        "logistic_regression": {"classification": LogisticRegression},
        "ridge": {"regression": Ridge},
    }


def build(
    spec: DatasetSpec,
    estimator: str,
    hyperparams: dict[str, Any],
    seed: int,
    *,
    train_rows: int | None = None,
    max_tree_samples: int = 0,
) -> Pipeline:
    """The spec's Pipeline. With ``train_rows`` above ``max_tree_samples`` (> 0), a bagging
    ensemble that takes ``max_samples`` (random forests) draws that many rows per tree."""
    choices = _estimators()
    if estimator not in choices or spec.task not in choices[estimator]:
        valid = [k for k, v in choices.items() if spec.task in v]
        raise ConfigError(
            f"MLSTACK_ESTIMATOR: {estimator!r} is not available for {spec.task}; choose one of {valid}"
        )
    cls = choices[estimator][spec.task]
    params = dict(hyperparams)
    if "random_state" in cls().get_params():
        params.setdefault("random_state", seed)
    if "n_jobs" in cls().get_params():
        params.setdefault("n_jobs", 1)  # predictions are per request; train() fits on more cores
    if (
        max_tree_samples
        and train_rows is not None
        and train_rows > max_tree_samples
        and "max_samples" in cls().get_params()
        and params.get("bootstrap", True)
    ):
        params.setdefault("max_samples", max_tree_samples)
    try:
        model = cls(**params)
    except TypeError as exc:
        raise ConfigError(f"MLSTACK_HYPERPARAMS: {exc}") from None
    preprocess = ColumnTransformer(
        [
            (
                "numeric",
                Pipeline([("impute", SimpleImputer(strategy="median")), ("scale", StandardScaler())]),
                spec.numeric_features,
            ),
            (
                "categorical",
                Pipeline(
                    [
                        ("impute", SimpleImputer(strategy="most_frequent")),
                        ("onehot", OneHotEncoder(handle_unknown="ignore")),
                    ]
                ),
                spec.categorical_features,
            ),
        ]
    )
    return Pipeline([("preprocess", preprocess), ("estimator", model)])


def model_inputs(frame: pd.DataFrame, spec: DatasetSpec) -> pd.DataFrame:
    """Feature columns in spec order and the spec's dtypes (the signature rejects int for float)."""
    out = frame[spec.feature_names].copy()
    for name, feature in spec.features.items():
        if feature.type == "float":
            out[name] = pd.to_numeric(out[name]).astype("float64")
        elif feature.type == "integer":
            out[name] = pd.to_numeric(out[name]).astype("int64")
        elif feature.type == "categorical":
            out[name] = out[name].astype("object").where(out[name].notna(), None)
    return out
