"""Metrics and plots on a holdout: the same function scores a challenger and the champion."""

from __future__ import annotations

import numpy as np
import pandas as pd

from mlstack.data.spec import DatasetSpec

IMPORTANCE_ROWS = 2000  # permutation importance on a seeded sample keeps large holdouts cheap


def compute_metrics(
    model, features: pd.DataFrame, target: pd.Series, spec: DatasetSpec, predicted=None
) -> dict:
    """Metrics of ``model`` on ``features``; ``predicted`` = ``model.predict(features)`` if known."""
    from sklearn import metrics

    if predicted is None:
        predicted = model.predict(features)
    if spec.task == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(target, predicted))),
            "mae": float(metrics.mean_absolute_error(target, predicted)),
            "r2": float(metrics.r2_score(target, predicted)),
        }
    out = {
        "accuracy": float(metrics.accuracy_score(target, predicted)),
        "f1_macro": float(metrics.f1_score(target, predicted, average="macro", zero_division=0)),
    }
    if hasattr(model, "predict_proba"):
        proba = model.predict_proba(features)
        labels = list(model.classes_)
        out["log_loss"] = float(metrics.log_loss(target, proba, labels=labels))
        if target.nunique() > 1:
            if len(labels) == 2:
                out["roc_auc_ovr"] = float(metrics.roc_auc_score(target == labels[1], proba[:, 1]))
            else:
                out["roc_auc_ovr"] = float(
                    metrics.roc_auc_score(target, proba, multi_class="ovr", labels=labels)
                )
    return out


def plots(model, features: pd.DataFrame, target: pd.Series, spec: DatasetSpec, seed: int = 0, predicted=None):
    """{file name: matplotlib Figure}: confusion matrix or residuals, and feature importance.

    ``predicted`` = ``model.predict(features)`` when the caller has it already.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from sklearn.inspection import permutation_importance
    from sklearn.metrics import ConfusionMatrixDisplay

    figures = {}
    if predicted is None:
        predicted = model.predict(features)
    if spec.task == "classification":
        fig, ax = plt.subplots(figsize=(5, 4))
        ConfusionMatrixDisplay.from_predictions(target, predicted, ax=ax, colorbar=False)
        ax.set_title("Confusion matrix (holdout)")
        figures["confusion_matrix.png"] = fig
    else:
        fig, ax = plt.subplots(figsize=(5, 4))
        ax.scatter(predicted, target - predicted, s=8, alpha=0.6)
        ax.axhline(0, color="grey", linewidth=1)
        ax.set_xlabel("predicted")
        ax.set_ylabel("residual")
        ax.set_title("Residuals (holdout)")
        figures["residuals.png"] = fig

    sample = features.sample(min(len(features), IMPORTANCE_ROWS), random_state=seed)
    result = permutation_importance(
        model, sample, target.loc[sample.index], n_repeats=3, random_state=seed, n_jobs=1
    )
    order = np.argsort(result.importances_mean)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.barh(np.array(features.columns)[order], result.importances_mean[order])
    ax.set_title("Permutation importance (holdout)")
    fig.tight_layout()
    figures["feature_importance.png"] = fig
    return figures
