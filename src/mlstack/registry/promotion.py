"""`promote()`: the gate applied to the registry.

Challenger and champion are scored on the challenger's own holdout rows, `gate.decide()` gives
the verdict, and a promotion moves `champion` under the promotion lock only if the champion the
gate compared against is still the champion (compare-and-set). Every decision, promoted or
refused, is recorded as `mlstack.gate.*` tags on the challenger's version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import RegistryError
from mlstack.lineage import TAG_PREFIX
from mlstack.registry import gate, now
from mlstack.registry.aliases import move_champion
from mlstack.registry.gate import GateDecision
from mlstack.registry.lock import promotion_lock
from mlstack.registry.versions import champion_version

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient


def promote(version: str, settings: Settings, spec: DatasetSpec) -> GateDecision:
    """The gate: challenger vs @champion on the challenger's holdout rows; move alias or refuse."""
    from mlstack.model.train import load_holdout

    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec)
    version = str(version)
    candidate = client.get_model_version(name, version)
    rule = gate.rule_for(settings, spec)
    holdout = load_holdout(candidate.run_id)
    value = metric_on_holdout(spec, f"models:/{name}/{version}", holdout, rule.metric)

    current = champion_version(settings, name)
    champion_value = None
    if current is not None and gate.needs_champion_score(rule, version, value, current):
        champion_value = metric_on_holdout(spec, f"models:/{name}/{current}", holdout, rule.metric)
    decision = gate.decide(
        rule,
        name=name,
        version=version,
        challenger_value=value,
        champion_version=current,
        champion_value=champion_value,
        holdout_rows=len(holdout),
        decided_at=now(),
    )
    if not decision.promoted:
        record(client, decision)
        return decision
    # Compare-and-set: under the promotion lock, move the alias only if the champion the gate
    # compared against is still the champion; otherwise another promotion won the race.
    with promotion_lock(client, name):
        champion_now = champion_version(settings, name)
        if champion_now != current:
            decision = gate.lost_race(decision, champion_now, decided_at=now())
        else:
            move_champion(client, name, version, previous=current, why="gate")
        record(client, decision)
    return decision


def metric_on_holdout(spec: DatasetSpec, model_uri: str, holdout: pd.DataFrame, metric: str) -> float:
    """The gate metric of the model at `model_uri` on `holdout`; RegistryError for an unknown metric."""
    from mlstack.model.artifact import load_pipeline
    from mlstack.model.estimator import model_inputs
    from mlstack.model.evaluate import compute_metrics

    model = load_pipeline(model_uri)
    scores = compute_metrics(model, model_inputs(holdout, spec), holdout[spec.target], spec)
    if metric not in scores:
        raise RegistryError(f"MLSTACK_GATE_METRIC: {metric!r} is not one of {sorted(scores)}")
    return scores[metric]


def record(client: MlflowClient, decision: GateDecision) -> None:
    """Store the decision as `mlstack.gate.*` tags on the version it concerns."""
    for key, value in gate.as_tags(decision).items():
        client.set_model_version_tag(decision.name, decision.version, TAG_PREFIX + key, value)
