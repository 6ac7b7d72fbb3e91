"""Live quality: the gate's primary metric on labelled predictions, per model version, over
sliding windows, beside the metric the version had offline when it was promoted.

`quality_verdict` is the rule the quality DAG applies: with at least `min_labels` labelled
answers of the champion in the window, live quality below the gate's floor is an alert and a
retraining. Fewer labels: no verdict (a handful of labels says nothing).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import numpy as np
import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import ConfigError

LABEL_METRICS = ("accuracy", "f1_macro", "rmse", "mae", "r2")
# Metrics that need probabilities (not logged for every answer) fall back to one that does not.
FALLBACK = {"classification": "f1_macro", "regression": "rmse"}
MAX_WINDOWS = 200


def live_metric(spec: DatasetSpec, metric: str) -> str:
    """The metric live quality reports: the gate's own when it needs only labels, else the task's
    label metric (log_loss and roc_auc need probabilities of every class)."""
    return metric if metric in LABEL_METRICS else FALLBACK[spec.task]


def metric_value(metric: str, truth: pd.Series, predicted: pd.Series) -> float:
    """`metric` of `predicted` against `truth` (same computation as the offline evaluation)."""
    from sklearn import metrics

    if metric in ("rmse", "mae", "r2"):
        y, p = truth.astype(float).to_numpy(), predicted.astype(float).to_numpy()
        if metric == "rmse":
            return float(np.sqrt(metrics.mean_squared_error(y, p)))
        if metric == "mae":
            return float(metrics.mean_absolute_error(y, p))
        return float(metrics.r2_score(y, p))
    y_true, y_pred = truth.astype(str).to_numpy(), predicted.astype(str).to_numpy()
    if metric == "accuracy":
        return float(metrics.accuracy_score(y_true, y_pred))
    if metric == "f1_macro":
        return float(metrics.f1_score(y_true, y_pred, average="macro", zero_division=0))
    raise ConfigError(f"live quality: metric {metric!r} is not one of {LABEL_METRICS}")


def by_version(labelled: pd.DataFrame, metric: str) -> pd.DataFrame:
    """One row per (model_version, shadow): labels and the metric on them."""
    columns = ["model_version", "shadow", "labels", metric]
    if labelled.empty:
        return pd.DataFrame(columns=columns)
    rows = []
    for (version, shadow), group in labelled.groupby(["model_version", "shadow"], sort=True):
        rows.append(
            [version, bool(shadow), len(group), metric_value(metric, group["label"], group["prediction"])]
        )
    return pd.DataFrame(rows, columns=columns)


def sliding(
    labelled: pd.DataFrame, metric: str, window: timedelta, step: timedelta | None = None, min_labels: int = 1
) -> pd.DataFrame:
    """The metric per served version over windows of `window` ending every `step` (default: a
    quarter window): window_end, model_version, labels, metric. Shadow answers are left out."""
    columns = ["window_end", "model_version", "labels", metric]
    served = labelled[~labelled["shadow"].astype(bool)] if not labelled.empty else labelled
    if served.empty:
        return pd.DataFrame(columns=columns)
    step = step or window / 4
    at = pd.to_datetime(served["at"], utc=True)
    first, end = at.min(), at.max()
    ends: list[pd.Timestamp] = []
    while len(ends) < MAX_WINDOWS:  # the newest window ends at the newest label, then back by step
        ends.append(end)
        if end - window <= first:
            break
        end -= step
    rows = []
    for end in reversed(ends):
        inside = served[(at > end - window) & (at <= end)]
        for version, group in inside.groupby("model_version", sort=True):
            if len(group) >= min_labels:
                rows.append(
                    [end, version, len(group), metric_value(metric, group["label"], group["prediction"])]
                )
    return pd.DataFrame(rows, columns=columns)


@dataclass(frozen=True)
class QualityVerdict:
    """The live quality check of the champion over one window."""

    model: str
    version: str | None
    metric: str
    floor: float
    higher_is_better: bool
    window: str
    labels: int
    min_labels: int
    value: float | None
    offline: float | None

    @property
    def enough_labels(self) -> bool:
        """True when the window holds enough labelled answers for a verdict."""
        return self.labels >= self.min_labels

    @property
    def below_floor(self) -> bool:
        """True when there is a verdict and live quality misses the gate's floor."""
        if self.value is None or not self.enough_labels:
            return False
        return self.value < self.floor if self.higher_is_better else self.value > self.floor

    def message(self) -> str:
        """One line for a person: what was measured and what it means."""
        head = f"{self.model} v{self.version} live {self.metric}"
        if self.version is None:
            return f"{self.model}: no champion, no live quality"
        if not self.enough_labels:
            return f"{head}: no verdict, {self.labels} labelled answers in {self.window} (need {self.min_labels})"
        offline = f", offline {self.offline:.4f}" if self.offline is not None else ""
        state = "BELOW the floor" if self.below_floor else "meets the floor"
        return f"{head} = {self.value:.4f} on {self.labels} labels in {self.window}{offline}: {state} {self.floor}"

    def to_dict(self) -> dict[str, Any]:
        """XCom-ready values plus the derived verdict."""
        return {**asdict(self), "enough_labels": self.enough_labels, "below_floor": self.below_floor}


def offline_metric(settings: Settings, name: str, version: str, metric: str) -> float | None:
    """The metric the version had on its holdout when it was evaluated (its run's metric)."""
    from mlstack import tracking

    client = tracking.configure(settings)
    try:
        run_id = client.get_model_version(name, version).run_id
        value = client.get_run(run_id).data.metrics.get(metric)
    except Exception:  # an unreachable registry leaves the offline side empty, not the check
        return None
    return None if value is None else float(value)


def quality_verdict(
    settings: Settings, spec: DatasetSpec, window: str | None = None, now: datetime | None = None
) -> QualityVerdict:
    """Live quality of the current champion over the last `window` (default MLSTACK_QUALITY_WINDOW)."""
    from mlstack import tracking
    from mlstack.drift.inputs import parse_window
    from mlstack.monitoring.feedback import labelled_predictions
    from mlstack.registry.gate import rule_for
    from mlstack.registry.versions import champion_version

    rule = rule_for(settings, spec)
    metric = live_metric(spec, rule.metric)
    name = tracking.model_name(settings, spec)
    window_text = window or settings.quality_window
    since = (now or datetime.now(UTC)) - parse_window(window_text)
    version = champion_version(settings, name)
    value, labels, offline = None, 0, None
    if version is not None:
        labelled = labelled_predictions(settings, since=since, model_name=name)
        mine = labelled[(labelled["model_version"] == version) & ~labelled["shadow"].astype(bool)]
        labels = len(mine)
        if labels:
            value = metric_value(metric, mine["label"], mine["prediction"])
        offline = offline_metric(settings, name, version, metric)
    return QualityVerdict(
        name,
        version,
        metric,
        rule.floor,
        spec.higher_is_better(metric),
        window_text,
        labels,
        settings.quality_min_labels,
        value,
        offline,
    )
