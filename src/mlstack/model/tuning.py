"""The optional hyperparameter search: Optuna over the spec's `search_space`, scored by
cross-validation on the training rows, one nested MLflow run per trial under the training run.

Off unless MLSTACK_TUNING_TRIALS > 0 and the spec declares a search space. Trials are scored on
folds of the training window only: the gate's evaluation set (new holdout + pinned) stays unseen,
so the gate still judges the tuned model on rows no choice was made on.
"""

from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass
from typing import Any, Literal

import pandas as pd

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec, SearchParam
from mlstack.errors import ConfigError
from mlstack.lineage import TAG_PREFIX
from mlstack.model.estimator import build, model_inputs

# Run tags; registration copies every `mlstack.*` run tag onto the model version.
BEST_PARAMS_TAG = TAG_PREFIX + "tuning.best_params"
BEST_SCORE_TAG = TAG_PREFIX + "tuning.best_cv_score"
TRIALS_TAG = TAG_PREFIX + "tuning.trials"
TRIAL_STEP = "tuning-trial"  # the `mlstack.step` tag of a trial's nested run
CV_FOLDS = 3


@dataclass(frozen=True)
class TuningResult:
    """The best trial's parameters and cross-validated score, and what the search cost."""

    best_params: dict[str, Any]
    best_score: float
    metric: str
    trials: int
    seconds: float

    def tags(self) -> dict[str, str]:
        """The run (and so version) tags that record the search."""
        return {
            BEST_PARAMS_TAG: json.dumps(self.best_params, sort_keys=True),
            BEST_SCORE_TAG: f"cv_{self.metric}={self.best_score:.4f} over {CV_FOLDS} folds",
            TRIALS_TAG: str(self.trials),
        }


def enabled(settings: Settings, spec: DatasetSpec) -> bool:
    """A search runs only when asked for (trials > 0) and the spec says what it may change.

    ConfigError when asked for with another estimator than the spec's: the space names that
    estimator's parameters.
    """
    if settings.tuning_trials <= 0 or not spec.search_space:
        return False
    if settings.estimator and settings.estimator != spec.estimator:
        raise ConfigError(
            f"MLSTACK_TUNING_TRIALS: the search space of spec {spec.name!r} is for {spec.estimator!r}, "
            f"not MLSTACK_ESTIMATOR={settings.estimator!r}; unset one of them"
        )
    return True


def suggest(trial, name: str, param: SearchParam) -> Any:
    """One value of `param` from an Optuna trial."""
    if param.type == "categorical":
        return trial.suggest_categorical(name, param.choices)
    assert param.low is not None and param.high is not None  # checked by the spec
    if param.type == "int":
        return trial.suggest_int(name, int(param.low), int(param.high), log=param.log)
    return trial.suggest_float(name, param.low, param.high, log=param.log)


def cv_score(
    frame: pd.DataFrame, spec: DatasetSpec, estimator: str, params: dict[str, Any], seed: int, metric: str
) -> float:
    """Mean of `metric` over seeded folds of `frame` (stratified for a classifier)."""
    from sklearn.model_selection import KFold, StratifiedKFold

    from mlstack.model.evaluate import compute_metrics

    target = frame[spec.target]
    stratify = spec.task == "classification" and target.value_counts().min() >= CV_FOLDS
    folds = (StratifiedKFold if stratify else KFold)(n_splits=CV_FOLDS, shuffle=True, random_state=seed)
    features = model_inputs(frame, spec)
    values = []
    for train_rows, test_rows in folds.split(features, target):
        pipeline = build(spec, estimator, params, seed)
        pipeline.fit(features.iloc[train_rows], target.iloc[train_rows])
        scored = compute_metrics(pipeline, features.iloc[test_rows], target.iloc[test_rows], spec)
        values.append(scored[metric])
    return float(sum(values) / len(values))


def search(
    frame: pd.DataFrame, spec: DatasetSpec, estimator: str, base: dict[str, Any], settings: Settings
) -> TuningResult:
    """Search the spec's space within the trial and time budgets; call inside the training run.

    Each trial is a nested MLflow run with its sampled parameters and cross-validated score. The
    sampler is seeded (MLSTACK_SEED), so the same data and settings try the same parameters.
    """
    import mlflow
    import optuna

    metric = settings.gate_metric or spec.gate.metric
    parent = mlflow.active_run()
    # a nested run goes to the active experiment, not its parent's, unless told
    experiment_id = parent.info.experiment_id if parent else None
    optuna.logging.set_verbosity(logging.WARNING)  # one line per trial otherwise

    def objective(trial) -> float:
        sampled = {name: suggest(trial, name, p) for name, p in spec.search_space.items()}
        tags = {TAG_PREFIX + "step": TRIAL_STEP, TAG_PREFIX + "dataset": spec.name}
        with mlflow.start_run(
            experiment_id=experiment_id, nested=True, run_name=f"trial-{trial.number}", tags=tags
        ):
            mlflow.log_params({"estimator": estimator, **{f"hp.{k}": v for k, v in sampled.items()}})
            value = cv_score(frame, spec, estimator, {**base, **sampled}, settings.seed, metric)
            mlflow.log_metric(f"cv_{metric}", value)
        return value

    direction: Literal["maximize", "minimize"] = "maximize" if spec.higher_is_better(metric) else "minimize"
    study = optuna.create_study(direction=direction, sampler=optuna.samplers.TPESampler(seed=settings.seed))
    started = time.perf_counter()
    study.optimize(
        objective, n_trials=settings.tuning_trials, timeout=settings.tuning_timeout_seconds or None
    )
    return TuningResult(
        best_params=dict(study.best_params),
        best_score=float(study.best_value),
        metric=metric,
        trials=len(study.trials),
        seconds=time.perf_counter() - started,
    )
