"""Register, promote (the gate), roll back, and describe model versions.

Aliases: `challenger` marks the newest registered candidate, `champion` the served model.
Every decision is stored as tags on the version it concerns, so the registry is the audit log.
"""

from __future__ import annotations

import json
import os
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import NoChampionError, RegistryError
from mlstack.lineage import TAG_PREFIX, orchestrator_context
from mlstack.model.train import run_model_uri

CHAMPION, CHALLENGER = "champion", "challenger"
GATE = TAG_PREFIX + "gate."


@dataclass(frozen=True)
class RegisterResult:
    name: str
    version: str
    run_id: str
    created: bool  # False when this run (or orchestrator run) was registered before

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass(frozen=True)
class GateDecision:
    name: str
    version: str
    verdict: str  # "promoted" | "refused"
    reason: str
    metric: str
    challenger_value: float
    champion_version: str | None
    champion_value: float | None
    delta: float | None
    floor: float
    min_improvement: float
    decided_at: str

    @property
    def promoted(self) -> bool:
        return self.verdict == "promoted"

    def to_dict(self) -> dict:
        return asdict(self)


def _client(settings: Settings):
    return tracking.configure(settings)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def register(run_id: str, settings: Settings, spec: DatasetSpec) -> RegisterResult:
    """Create a version of the run's model with lineage tags and alias `challenger`.

    Idempotent: a retried or cleared task finds the version made for the same run, or for the
    same orchestrator run, instead of registering a duplicate.
    """
    client = _client(settings)
    name = tracking.model_name(settings, spec)
    run = client.get_run(run_id)
    context = orchestrator_context()
    existing = find_version(settings, name, run_id=run_id)
    if existing is None and context["orchestrator"] != "cli":
        existing = find_version(
            settings, name, tag=(TAG_PREFIX + "orchestrator_run_id", context["orchestrator_run_id"])
        )
    if existing is not None:
        return RegisterResult(name, str(existing.version), existing.run_id, False)

    import mlflow

    tags = {k: v for k, v in run.data.tags.items() if k.startswith(TAG_PREFIX)}
    tags.update({TAG_PREFIX + k: v for k, v in context.items()})
    tags[TAG_PREFIX + "registered_at"] = _now()
    version = mlflow.register_model(run_model_uri(run_id), name, tags=tags, await_registration_for=120)
    _wait_ready(client, name, str(version.version))
    client.set_registered_model_alias(name, CHALLENGER, str(version.version))
    return RegisterResult(name, str(version.version), run_id, True)


def _wait_ready(client, name: str, version: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_model_version(name, version).status
        if status == "READY":
            return
        if status == "FAILED_REGISTRATION":
            raise RegistryError(f"model {name} version {version}: registration failed")
        time.sleep(0.5)
    raise RegistryError(f"model {name} version {version}: not READY after {timeout:.0f}s")


def find_version(settings: Settings, name: str, run_id: str | None = None, tag=None):
    client = _client(settings)
    try:
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception:
        return None
    for v in versions:
        if run_id and v.run_id == run_id:
            return v
        if tag and v.tags.get(tag[0]) == tag[1]:
            return v
    return None


def champion_version(settings: Settings, name: str) -> str | None:
    client = _client(settings)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except Exception:
        return None


def _metric_on_holdout(settings, spec, model_uri: str, holdout, metric: str) -> float:
    import mlflow

    from mlstack.model.estimator import model_inputs
    from mlstack.model.evaluate import compute_metrics

    model = mlflow.sklearn.load_model(model_uri)
    scores = compute_metrics(model, model_inputs(holdout, spec), holdout[spec.target], spec)
    if metric not in scores:
        raise RegistryError(f"MLSTACK_GATE_METRIC: {metric!r} is not one of {sorted(scores)}")
    return scores[metric]


def promote(version: str, settings: Settings, spec: DatasetSpec) -> GateDecision:
    """The gate: challenger vs @champion on the challenger's holdout rows; move alias or refuse."""
    from mlstack.model.train import load_holdout

    client = _client(settings)
    name = tracking.model_name(settings, spec)
    version = str(version)
    candidate = client.get_model_version(name, version)
    metric = settings.gate_metric or spec.gate.metric
    floor = settings.gate_floor if settings.gate_floor is not None else spec.gate.floor
    need = settings.gate_min_improvement
    higher = spec.higher_is_better(metric)
    holdout = load_holdout(candidate.run_id)
    value = _metric_on_holdout(settings, spec, f"models:/{name}/{version}", holdout, metric)

    current = champion_version(settings, name)
    champ_value = delta = None
    if current == version:
        verdict, reason = "refused", f"version {version} is already the champion"
    elif not _passes_floor(value, floor, higher):
        verdict = "refused"
        reason = f"{metric}={value:.4f} does not meet the floor {floor} ({_sense(higher)})"
    elif current is None:
        verdict, reason = (
            "promoted",
            f"no champion yet and {metric}={value:.4f} meets the floor {floor}",
        )
    else:
        champ_value = _metric_on_holdout(settings, spec, f"models:/{name}/{current}", holdout, metric)
        delta = (value - champ_value) if higher else (champ_value - value)
        if delta > 0 and delta >= need:
            verdict = "promoted"
            reason = (
                f"{metric} {value:.4f} vs champion v{current} {champ_value:.4f} on the same "
                f"{len(holdout)} holdout rows: improvement {delta:+.4f} >= {need}"
            )
        else:
            verdict = "refused"
            reason = (
                f"{metric} {value:.4f} vs champion v{current} {champ_value:.4f} on the same "
                f"{len(holdout)} holdout rows: improvement {delta:+.4f} is not positive and >= {need}"
            )

    decision = GateDecision(
        name,
        version,
        verdict,
        reason,
        metric,
        value,
        current,
        champ_value,
        delta,
        floor,
        need,
        _now(),
    )
    if not decision.promoted:
        _record(client, decision)
        return decision
    # Compare-and-set: under the promotion lock, move the alias only if the champion the gate
    # compared against is still the champion; otherwise another promotion won the race.
    with promotion_lock(client, name):
        now_current = champion_version(settings, name)
        if now_current != current:
            decision = replace(
                decision,
                verdict="refused",
                reason=(
                    f"lost a race: the champion moved from {_v(current)} to {_v(now_current)} while "
                    f"this gate was deciding ({reason}); run the gate again to compare against "
                    f"{_v(now_current)}"
                ),
                decided_at=_now(),
            )
        else:
            _move_champion(client, name, version, previous=current, why="gate")
        _record(client, decision)
    return decision


def _v(version: str | None) -> str:
    return f"v{version}" if version else "no champion"


LOCK_SUFFIX = ".promotion-lock"
LOCK_TTL_SECONDS = 120.0  # a lock older than this was left by a crashed process and is broken
LOCK_WAIT_SECONDS = 60.0
_LOCK_OWNER = TAG_PREFIX + "lock.owner"
_LOCK_AT = TAG_PREFIX + "lock.acquired_at"


@contextmanager
def promotion_lock(client, name: str, wait: float = LOCK_WAIT_SECONDS):
    """A registry-wide mutex for moving `champion` of model `name` (promote and rollback).

    MLflow has no compare-and-set on aliases; creating a registered model is atomic (a unique
    key in the store, SQLite or Postgres behind a server), so a model named `<name>.promotion-lock`
    is the lock. It is deleted on release; one older than LOCK_TTL_SECONDS is broken.
    """
    import random
    import uuid

    from mlflow.exceptions import MlflowException

    lock = name + LOCK_SUFFIX
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait
    while True:
        try:
            client.create_registered_model(
                lock,
                tags={_LOCK_OWNER: owner, _LOCK_AT: f"{time.time():.3f}"},
                description=f"mlstack: held while @{CHAMPION} of {name} moves; deleted after",
            )
            break
        except MlflowException as exc:
            # Contention shows as ALREADY_EXISTS, or, when the holder releases while the server
            # handles our create, as DOES_NOT_EXIST: both mean "look again", anything else is real.
            contended = ("ALREADY_EXISTS", "DOES_NOT_EXIST")
            if not any(code in str(exc.error_code) for code in contended) and "already exists" not in str(
                exc
            ):
                raise
        held = _lock_tags(client, lock)
        if held.get(_LOCK_OWNER) == owner:  # our create went through but its answer was lost
            break
        try:
            age = time.time() - float(held.get(_LOCK_AT, "nan"))
        except ValueError:
            age = float("nan")
        if age > LOCK_TTL_SECONDS:
            _delete_lock(client, lock)
            continue
        if time.monotonic() > deadline:
            raise RegistryError(
                f"model {name}: another promotion or rollback holds {lock} (for {age:.0f}s); try again"
            )
        time.sleep(0.1 + random.random() * 0.2)  # noqa: S311 - jitter, not crypto
    try:
        yield
    finally:
        if _lock_tags(client, lock).get(_LOCK_OWNER) == owner:
            _delete_lock(client, lock)


def _lock_tags(client, lock: str) -> dict:
    try:
        return dict(client.get_registered_model(lock).tags)
    except Exception:
        return {}


def _delete_lock(client, lock: str) -> None:
    try:
        client.delete_registered_model(lock)
    except Exception as exc:  # gone already (broken by another process) is fine
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc) and "not found" not in str(exc).lower():
            raise


def _passes_floor(value: float, floor: float, higher: bool) -> bool:
    return value >= floor if higher else value <= floor


def _sense(higher: bool) -> str:
    return "higher is better" if higher else "lower is better"


def _move_champion(client, name: str, version: str, previous: str | None, why: str) -> None:
    client.set_registered_model_alias(name, CHAMPION, version)
    client.set_model_version_tag(name, version, TAG_PREFIX + "previous_champion", previous or "")
    client.set_model_version_tag(name, version, TAG_PREFIX + "champion_since", _now())
    history = _champion_history(client, name)
    history.append({"version": version, "previous": previous, "at": _now(), "why": why})
    # The registered model keeps the whole champion history (bounded to the last 50 moves).
    client.set_registered_model_tag(name, TAG_PREFIX + "champion_history", json.dumps(history[-50:]))
    try:
        challenger = client.get_model_version_by_alias(name, CHALLENGER).version
    except Exception:
        challenger = None
    if str(challenger) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)


def _champion_history(client, name: str) -> list[dict]:
    raw = client.get_registered_model(name).tags.get(TAG_PREFIX + "champion_history")
    return json.loads(raw) if raw else []


def _record(client, decision: GateDecision) -> None:
    values = {
        "verdict": decision.verdict,
        "reason": decision.reason,
        "metric": decision.metric,
        "challenger_value": decision.challenger_value,
        "champion_version": decision.champion_version or "",
        "champion_value": "" if decision.champion_value is None else decision.champion_value,
        "delta": "" if decision.delta is None else decision.delta,
        "decided_at": decision.decided_at,
    }
    for key, value in values.items():
        client.set_model_version_tag(decision.name, decision.version, GATE + key, str(value))


def rollback(
    settings: Settings,
    spec: DatasetSpec,
    to_version: str | None = None,
    reason: str = "",
    actor: str | None = None,
) -> dict:
    """Point `champion` back to the previous champion (or a named version); record who and why."""
    client = _client(settings)
    name = tracking.model_name(settings, spec)
    current = champion_version(settings, name)
    if current is None:
        raise NoChampionError(f"model {name}: no champion to roll back from")
    if to_version is None:
        to_version = client.get_model_version(name, current).tags.get(TAG_PREFIX + "previous_champion")
        if not to_version:
            raise RegistryError(f"model {name}: champion v{current} has no previous champion recorded")
    try:
        client.get_model_version(name, to_version)
    except Exception:
        raise RegistryError(f"model {name}: no version {to_version}") from None
    if to_version == current:
        raise RegistryError(f"model {name}: version {to_version} is already the champion")
    actor = actor or os.environ.get("USER") or "unknown"
    with promotion_lock(client, name):
        if champion_version(settings, name) != current:
            raise RegistryError(f"model {name}: the champion moved while rolling back; try again")
        _move_champion(client, name, to_version, previous=current, why=f"rollback by {actor}: {reason}")
        for key, value in {"by": actor, "reason": reason, "from": current, "at": _now()}.items():
            client.set_model_version_tag(name, to_version, TAG_PREFIX + "rollback." + key, value)
    return {
        "name": name,
        "champion": to_version,
        "previous": current,
        "by": actor,
        "reason": reason,
    }


def list_versions(settings: Settings, spec: DatasetSpec) -> list[dict]:
    """Every version, newest first: aliases, run metrics, lineage and gate tags."""
    client = _client(settings)
    name = tracking.model_name(settings, spec)
    try:
        model = client.get_registered_model(name)
        versions = client.search_model_versions(f"name = '{name}'")
    except Exception:
        return []
    aliases: dict[str, list[str]] = {}
    for alias, version in (model.aliases or {}).items():
        aliases.setdefault(str(version), []).append(alias)
    out = []
    for v in sorted(versions, key=lambda v: int(v.version), reverse=True):
        metrics = client.get_run(v.run_id).data.metrics if v.run_id else {}
        out.append(
            {
                "name": name,
                "version": str(v.version),
                "aliases": sorted(aliases.get(str(v.version), [])),
                "run_id": v.run_id,
                "created": datetime.fromtimestamp(v.creation_timestamp / 1000, UTC).isoformat(),
                "metrics": metrics,
                "tags": {k.removeprefix(TAG_PREFIX): t for k, t in v.tags.items()},
            }
        )
    return out
