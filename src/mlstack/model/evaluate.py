"""Metrics and plots on a holdout: the same function scores a challenger and the champion."""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from mlstack.data.spec import DatasetSpec

IMPORTANCE_ROWS = 2000  # permutation importance on a seeded sample keeps large holdouts cheap


def scores(
    model, features: pd.DataFrame | Mapping[str, np.ndarray], spec: DatasetSpec
) -> tuple[np.ndarray, np.ndarray | None]:
    """Predicted values and, for classifiers, class probabilities (columns: ``model.classes_``).
    One array per feature instead of a frame only for a model that reads them (the ONNX form)."""
    if spec.task == "classification" and hasattr(model, "predict_proba"):
        proba = np.asarray(model.predict_proba(features), dtype="float64")
        classes = getattr(model, "classes_", None)
        if classes is not None and len(classes) == proba.shape[1]:
            # The bundled classifiers predict the most probable class: score once, not twice.
            return np.asarray(classes).take(np.argmax(proba, axis=1)), proba
        return np.asarray(model.predict(features)), proba
    return np.asarray(model.predict(features)), None


def label_codes(target, predicted, classes) -> tuple[np.ndarray, np.ndarray, list]:
    """Class labels as integer codes (the model's classes first, then any other label seen).

    A one-to-one relabelling, so every metric is the same; scikit-learn's metrics sort and
    compare Python strings otherwise, which costs seconds on a large holdout.
    """
    seen = [np.asarray(values, dtype=object) for values in (classes, target, predicted)]
    labels = list(pd.unique(np.concatenate(seen)))
    index = pd.Index(labels)
    return (
        index.get_indexer(np.asarray(target, dtype=object)),
        index.get_indexer(np.asarray(predicted, dtype=object)),
        labels,
    )


def compute_metrics(
    model, features: pd.DataFrame, target: pd.Series, spec: DatasetSpec, predicted=None, proba=None
) -> dict:
    """Metrics of ``model`` on ``features``.

    ``predicted`` (and, for a classifier, ``proba``) = :func:`scores` when the caller has them.
    """
    from sklearn import metrics

    if predicted is None:
        predicted, proba = scores(model, features, spec)
    if spec.task == "regression":
        return {
            "rmse": float(np.sqrt(metrics.mean_squared_error(target, predicted))),
            "mae": float(metrics.mean_absolute_error(target, predicted)),
            "r2": float(metrics.r2_score(target, predicted)),
        }
    classes = list(getattr(model, "classes_", []))
    y_true, y_pred, labels = label_codes(target, predicted, classes)
    out = {
        "accuracy": float(metrics.accuracy_score(y_true, y_pred)),
        "f1_macro": float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0)),
    }
    if hasattr(model, "predict_proba"):
        if proba is None:
            proba = model.predict_proba(features)
        class_codes = [labels.index(c) for c in classes]
        out["log_loss"] = float(metrics.log_loss(y_true, proba, labels=class_codes))
        if len(np.unique(y_true)) > 1:
            if len(class_codes) == 2:
                out["roc_auc_ovr"] = float(metrics.roc_auc_score(y_true == class_codes[1], proba[:, 1]))
            else:
                out["roc_auc_ovr"] = float(
                    metrics.roc_auc_score(y_true, proba, multi_class="ovr", labels=class_codes)
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
        from sklearn.metrics import confusion_matrix

        fig, ax = plt.subplots(figsize=(5, 4))
        # from_predictions(target, predicted) on integer codes: the same matrix, much faster.
        y_true, y_pred, labels = label_codes(target, predicted, getattr(model, "classes_", []))
        present = sorted(set(np.unique(y_true)) | set(np.unique(y_pred)))
        display_labels = sorted(labels[i] for i in present)
        order = [labels.index(label) for label in display_labels]
        matrix = confusion_matrix(y_true, y_pred, labels=order)
        ConfusionMatrixDisplay(matrix, display_labels=display_labels).plot(ax=ax, colorbar=False)
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
    ranked = np.argsort(result.importances_mean)
    fig, ax = plt.subplots(figsize=(5, 4))
    ax.barh(np.array(features.columns)[ranked], result.importances_mean[ranked])
    ax.set_title("Permutation importance (holdout)")
    fig.tight_layout()
    figures["feature_importance.png"] = fig
    return figures


ALL = "all"


def breakdown(
    model, evaluation: pd.DataFrame, spec: DatasetSpec, parts: pd.Series, predicted=None, proba=None
) -> dict[str, dict]:
    """Metrics of ``model`` on ``evaluation``: on every row (``all``), on each part
    (``part:new``, ``part:pinned``) and on each value of each slice the spec declares
    (``slice:island=Biscoe``). Each entry holds ``rows`` and the metrics. One scoring pass."""
    import warnings

    from sklearn.exceptions import UndefinedMetricWarning

    from mlstack.model.estimator import model_inputs

    features, target = model_inputs(evaluation, spec), evaluation[spec.target]
    if predicted is None:
        predicted, proba = scores(model, features, spec)
    groups: dict[str, np.ndarray] = {ALL: np.ones(len(evaluation), dtype=bool)}
    part_values = np.asarray(parts, dtype=object)
    for part in pd.unique(part_values):
        groups[f"part:{part}"] = part_values == part
    for column in spec.slices:
        values = evaluation[column]
        for value in sorted(str(v) for v in pd.unique(values.dropna())):
            groups[f"slice:{column}={value}"] = (values.astype(str) == value).to_numpy()
    out = {}
    for key, mask in groups.items():
        if not mask.any():
            continue
        index = np.flatnonzero(mask)
        with warnings.catch_warnings():
            # a slice may lack a class (one island, one species): its ROC AUC is undefined, dropped
            warnings.filterwarnings("ignore", category=UndefinedMetricWarning)
            metrics = compute_metrics(
                model,
                features.iloc[index],
                target.iloc[index],
                spec,
                np.asarray(predicted)[index],
                None if proba is None else np.asarray(proba)[index],
            )
        out[key] = {"rows": int(mask.sum()), **{k: v for k, v in metrics.items() if np.isfinite(v)}}
    return out


def metric_key(group: str, metric: str) -> str:
    """The MLflow metric name of `metric` on a breakdown group: `f1_macro`, `part.new.f1_macro`,
    `slice.island.Biscoe.f1_macro` (characters MLflow refuses become `_`)."""
    import re

    if group == ALL:
        return metric
    safe = re.sub(r"[^A-Za-z0-9_\-. /]", "_", group.replace(":", ".", 1).replace("=", ".", 1))
    return f"{safe}.{metric}"
