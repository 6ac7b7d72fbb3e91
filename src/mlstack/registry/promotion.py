"""`promote()`: the gate applied to the registry, safe to retry after a crash at any point.

Challenger and champion are scored on the challenger's evaluation rows (its new batch's holdout
plus the pinned set, as a whole, per part and per declared slice) and `gate.decide()` gives the
verdict. A promotion then, under the promotion lock:
1. reads `champion` again (compare-and-set: if it moved, the gate lost a race and refuses);
2. writes the decision on the challenger's version, before anything moves;
3. checks it still holds the lock (`LockHandle.ensure_held`) and moves the alias;
4. records the move (history, previous champion) and marks the decision applied.

A retry finds the recorded decision: a promotion not yet applied is finished (never re-decided
as "already the champion"), and a retried task of the same orchestrator run gets the verdict it
had. Every decision is stored as `mlstack.gate.*` tags on the challenger's version.
"""

from __future__ import annotations

from contextlib import AbstractContextManager
from typing import TYPE_CHECKING

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import RegistryError
from mlstack.lineage import TAG_PREFIX, orchestrator_context
from mlstack.model.evaluate import ALL
from mlstack.registry import gate, now
from mlstack.registry.aliases import move_champion, record_move
from mlstack.registry.gate import TAG_GROUP, GateDecision
from mlstack.registry.lock import LockHandle, LockLostError, promotion_lock
from mlstack.registry.versions import champion_version

if TYPE_CHECKING:
    import pandas as pd
    from mlflow import MlflowClient

DECIDED_IN = TAG_PREFIX + TAG_GROUP + "decided_in"  # the orchestrator run that decided ("cli" by hand)
APPLIED_AT = TAG_PREFIX + TAG_GROUP + "applied_at"  # set once a promotion's alias move is recorded


def promote(version: str, settings: Settings, spec: DatasetSpec) -> GateDecision:
    """The gate: challenger vs @champion on the challenger's holdout rows; move alias or refuse."""
    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec)
    version = str(version)
    candidate = client.get_model_version(name, version)
    run = _run_key(version)
    tags = {k.removeprefix(TAG_PREFIX): v for k, v in candidate.tags.items()}
    recorded = gate.from_tags(name, version, tags)
    if recorded is not None:
        same_run = run is not None and candidate.tags.get(DECIDED_IN) == run
        if recorded.promoted and not candidate.tags.get(APPLIED_AT):
            with _lock(client, settings, name, run) as lock:  # crashed mid-promotion: finish it
                return _apply(client, settings, recorded, lock, run)
        if same_run or (recorded.promoted and champion_version(settings, name) == version):
            return recorded
    decision = _decide(client, settings, spec, name, version, candidate.run_id)
    if not decision.promoted:
        record(client, decision, run)
        return decision
    with _lock(client, settings, name, run) as lock:
        return _apply(client, settings, decision, lock, run)


def _decide(
    client: MlflowClient, settings: Settings, spec: DatasetSpec, name: str, version: str, run_id: str
) -> GateDecision:
    from mlstack.model.estimator import model_inputs
    from mlstack.model.train import load_holdout

    rule = gate.rule_for(settings, spec)
    holdout = load_holdout(run_id)
    challenger = scores_on_evaluation(spec, f"models:/{name}/{version}", holdout, rule.metric)
    value = challenger[ALL][rule.metric]
    current = champion_version(settings, name)
    missing: tuple[str, ...] = ()
    champion_value = None
    evidence: list[gate.Evidence] = []
    if current is not None and current != version:
        missing = champion_missing_features(
            f"models:/{name}/{current}", [str(c) for c in model_inputs(holdout, spec).columns]
        )
    if current is not None and gate.needs_champion_score(rule, version, value, current, missing):
        champion = scores_on_evaluation(spec, f"models:/{name}/{current}", holdout, rule.metric)
        champion_value = champion[ALL][rule.metric]
        evidence = [
            gate.Evidence(group, int(values["rows"]), values[rule.metric], champion[group][rule.metric])
            for group, values in challenger.items()
            if group != ALL and rule.metric in values and rule.metric in champion.get(group, {})
        ]
    return gate.decide(
        rule,
        name=name,
        version=version,
        challenger_value=value,
        champion_version=current,
        champion_value=champion_value,
        holdout_rows=len(holdout),
        decided_at=now(),
        champion_missing=missing,
        evidence=evidence,
    )


def _lock(
    client: MlflowClient, settings: Settings, name: str, run: str | None
) -> AbstractContextManager[LockHandle]:
    return promotion_lock(client, name, ttl=settings.promotion_lock_ttl_seconds, key=run)


def _apply(
    client: MlflowClient, settings: Settings, decision: GateDecision, lock: LockHandle, run: str | None
) -> GateDecision:
    """Steps 1-4 of the module docstring, under `lock`; returns the decision as finally recorded."""
    name, version, compared = decision.name, decision.version, decision.champion_version
    champion_now = champion_version(settings, name)
    if champion_now == version:  # the alias moved before a crash: finish the records
        record_move(client, name, version, compared, why="gate")
        client.set_model_version_tag(name, version, APPLIED_AT, now())
        return decision
    if champion_now != compared:
        decision = gate.lost_race(decision, champion_now, decided_at=now())
        record(client, decision, run)
        return decision
    record(client, decision, run)  # written before the alias moves
    try:
        move_champion(client, name, version, previous=compared, why="gate", lock=lock)
    except LockLostError as exc:
        decision = gate.lost_lock(decision, str(exc), decided_at=now())
        record(client, decision, run)
        return decision
    client.set_model_version_tag(name, version, APPLIED_AT, now())
    return decision


def _run_key(version: str) -> str | None:
    """Who may take over a crashed try's lock and get its verdict back: the same task of one DAG run."""
    context = orchestrator_context()
    if context["orchestrator"] == "cli":
        return None
    return f"{context['dag_id']}/{context['orchestrator_run_id']}/promote/{version}"


def champion_missing_features(model_uri: str, available: list[str]) -> tuple[str, ...]:
    """The input features the model at `model_uri` needs (its signature) that `available` lacks."""
    import mlflow

    signature = mlflow.models.get_model_info(model_uri).signature
    if signature is None or signature.inputs is None:
        return ()
    return tuple(sorted(set(signature.inputs.input_names()) - set(available)))


def scores_on_evaluation(
    spec: DatasetSpec, model_uri: str, evaluation: pd.DataFrame, metric: str
) -> dict[str, dict]:
    """`evaluate.breakdown` of the model at `model_uri` on `evaluation` (all rows, parts, slices);
    RegistryError when the gate metric is not one the model's task has."""
    from mlstack.data.window import parts_of
    from mlstack.model.artifact import load_pipeline
    from mlstack.model.evaluate import breakdown

    groups = breakdown(load_pipeline(model_uri), evaluation, spec, parts_of(evaluation))
    if metric not in groups[ALL]:
        known = sorted(k for k in groups[ALL] if k != "rows")
        raise RegistryError(f"MLSTACK_GATE_METRIC: {metric!r} is not one of {known}")
    return groups


def record(client: MlflowClient, decision: GateDecision, run: str | None = None) -> None:
    """Store the decision as `mlstack.gate.*` tags on the version it concerns (not yet applied).

    One tag per request, so the verdict goes last: a version with a verdict has every field of
    its decision. A process killed part-way leaves no verdict, and the retry decides again (with
    the verdict first, a retry took the half-written record, empty reason and metric, as the
    decision and moved the alias on it)."""
    tags = {TAG_PREFIX + k: v for k, v in gate.as_tags(decision).items()}
    verdict = TAG_PREFIX + gate.VERDICT_TAG
    tags.update({DECIDED_IN: run or "cli", APPLIED_AT: ""})
    tags[verdict] = tags.pop(verdict)  # last
    for key, value in tags.items():
        client.set_model_version_tag(decision.name, decision.version, key, value)
