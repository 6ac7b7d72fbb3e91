"""The optional hyperparameter search (M3): nested MLflow runs, the best parameters on the version
and in its card, and nothing of it when tuning is off. Embedded MLflow store (SQLite + files)."""

from __future__ import annotations

import json
import time

import mlflow
import pytest
import yaml

from mlstack import lifecycle, tracking
from mlstack.data.spec import load_spec
from mlstack.data.synthetic import reference_frame
from mlstack.errors import ConfigError
from mlstack.model import tuning
from mlstack.registry.card import CARD_ARTIFACT
from tests.unit.conftest import make_settings


def _runs(settings, spec):
    client = tracking.configure(settings)
    experiment = tracking.experiment_id(settings, spec)
    return client, client.search_runs([experiment], max_results=1000)


def test_a_three_trial_search_runs_nested_and_its_best_parameters_reach_the_version(tmp_path):
    settings = make_settings(tmp_path / "home", tuning_trials=3)
    ctx = lifecycle.context(settings, "penguins", trusted_caller=True)
    started = time.perf_counter()
    summary = lifecycle.run_all(ctx)
    print(f"run_all with a 3-trial search: {time.perf_counter() - started:.1f}s")

    parent = summary["train"]["run_id"]
    client, runs = _runs(settings, ctx.spec)
    trials = [r for r in runs if r.data.tags.get("mlflow.parentRunId") == parent]
    assert len(trials) == 3
    space = ctx.spec.search_space
    for trial in trials:
        assert trial.data.tags["mlstack.step"] == tuning.TRIAL_STEP
        assert 0.0 < trial.data.metrics["cv_f1_macro"] <= 1.0
        for name, param in space.items():
            assert param.low <= float(trial.data.params[f"hp.{name}"]) <= param.high
    best_trial = max(trials, key=lambda r: r.data.metrics["cv_f1_macro"])

    version = client.get_model_version(summary["register"]["name"], summary["register"]["version"])
    best = json.loads(version.tags[tuning.BEST_PARAMS_TAG])
    assert best == {k: int(best_trial.data.params[f"hp.{k}"]) for k in space}
    assert version.tags[tuning.TRIALS_TAG] == "3"
    fitted = client.get_run(parent).data.params
    assert {k: int(fitted[f"hp.{k}"]) for k in space} == best  # the model fitted is the best trial's
    card = mlflow.artifacts.load_text(f"runs:/{parent}/{CARD_ARTIFACT}")
    assert "Searched with Optuna: 3 trial(s)" in card and json.dumps(best, sort_keys=True) in card


def test_with_tuning_off_no_nested_run_is_created(trained):
    ctx, summary = trained
    assert ctx.settings.tuning_trials == 0  # the default: `make demo` stays fast
    client, runs = _runs(ctx.settings, ctx.spec)
    assert runs and not [r for r in runs if "mlflow.parentRunId" in r.data.tags]
    version = client.get_model_version(summary["register"]["name"], summary["register"]["version"])
    assert tuning.BEST_PARAMS_TAG not in version.tags
    card = mlflow.artifacts.load_text(f"runs:/{summary['train']['run_id']}/{CARD_ARTIFACT}")
    assert "no search was run" in card


def test_the_search_is_seeded_and_stops_at_the_trial_budget(tmp_path):
    spec = load_spec("penguins")
    data = reference_frame(spec).dropna(subset=[spec.target]).head(200)
    settings = make_settings(tmp_path / "home", tuning_trials=2, tuning_timeout_seconds=0)
    tracking.configure(settings)
    results = []
    for _ in range(2):
        with mlflow.start_run():
            results.append(tuning.search(data, spec, spec.estimator, spec.hyperparams, settings))
    assert results[0].trials == results[1].trials == 2
    assert results[0].best_params == results[1].best_params


def test_a_bad_search_space_and_a_foreign_estimator_are_refused(tmp_path):
    path = tmp_path / "spec.yaml"
    base = load_spec("penguins").model_dump(mode="json", exclude_none=True)
    for bad, message in [
        ({"max_depth": {"type": "int", "low": 9, "high": 2}}, "low` <= `high"),
        ({"n_estimators": {"type": "int", "low": 0, "high": 10, "log": True}}, "low` > 0"),
        ({"criterion": {"type": "categorical"}}, "needs `choices`"),
    ]:
        path.write_text(yaml.safe_dump({**base, "search_space": bad}))
        load_spec.cache_clear()
        with pytest.raises(ConfigError, match=message):
            load_spec(str(path))
    settings = make_settings(tmp_path / "home", tuning_trials=3, estimator="logistic_regression")
    with pytest.raises(ConfigError, match="MLSTACK_TUNING_TRIALS"):
        tuning.enabled(settings, load_spec("penguins"))
    assert not tuning.enabled(make_settings(tmp_path / "home"), load_spec("penguins"))
