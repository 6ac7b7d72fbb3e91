"""Moving the `champion` alias: the move itself, the history it leaves, and rollback.

Every move is recorded twice: tags on the new champion (`previous_champion`,
`champion_since`) and a bounded JSON history on the registered model (`champion_history`).
"""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import NoChampionError, RegistryError
from mlstack.lineage import TAG_PREFIX
from mlstack.registry import CHALLENGER, CHAMPION, now
from mlstack.registry.lock import LockHandle, promotion_lock
from mlstack.registry.versions import champion_version, is_not_found

if TYPE_CHECKING:
    from mlflow import MlflowClient

HISTORY_TAG = TAG_PREFIX + "champion_history"
HISTORY_LENGTH = 50  # moves kept on the registered model


def move_champion(
    client: MlflowClient, name: str, version: str, previous: str | None, why: str, lock: LockHandle
) -> None:
    """Point `champion` at `version` and record the move, holding `lock` (checked right before).

    A version that was also `challenger` loses that alias: it is no longer a candidate.
    """
    lock.ensure_held()
    client.set_registered_model_alias(name, CHAMPION, version)
    record_move(client, name, version, previous, why)


def record_move(client: MlflowClient, name: str, version: str, previous: str | None, why: str) -> None:
    """The records of a move of `champion` to `version`; idempotent, so a retry finishes a crashed move."""
    client.set_model_version_tag(name, version, TAG_PREFIX + "previous_champion", previous or "")
    client.set_model_version_tag(name, version, TAG_PREFIX + "champion_since", now())
    history = champion_history(client, name)
    last = history[-1] if history else {}
    if (str(last.get("version")), str(last.get("previous"))) != (str(version), str(previous)):
        history.append({"version": version, "previous": previous, "at": now(), "why": why})
        client.set_registered_model_tag(name, HISTORY_TAG, json.dumps(history[-HISTORY_LENGTH:]))
    try:
        challenger = client.get_model_version_by_alias(name, CHALLENGER).version
    except Exception as exc:
        if not is_not_found(exc):
            raise
        challenger = None
    if str(challenger) == str(version):
        client.delete_registered_model_alias(name, CHALLENGER)


def champion_history(client: MlflowClient, name: str) -> list[dict[str, Any]]:
    """Every recorded move of `champion` of model `name`, oldest first (the last 50)."""
    raw = client.get_registered_model(name).tags.get(HISTORY_TAG)
    return json.loads(raw) if raw else []


def rollback(
    settings: Settings,
    spec: DatasetSpec,
    to_version: str | None = None,
    reason: str = "",
    actor: str | None = None,
) -> dict[str, Any]:
    """Point `champion` back to the previous champion (or a named version); record who and why."""
    client = tracking.configure(settings)
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
    with promotion_lock(client, name, ttl=settings.promotion_lock_ttl_seconds) as lock:
        if champion_version(settings, name) != current:
            raise RegistryError(f"model {name}: the champion moved while rolling back; try again")
        why = f"rollback by {actor}: {reason}"
        move_champion(client, name, to_version, previous=current, why=why, lock=lock)
        for key, value in {"by": actor, "reason": reason, "from": current, "at": now()}.items():
            client.set_model_version_tag(name, to_version, TAG_PREFIX + "rollback." + key, value)
    return {
        "name": name,
        "champion": to_version,
        "previous": current,
        "by": actor,
        "reason": reason,
    }
