"""The promotion lock: one registry-wide mutex per model while its `champion` alias moves.

MLflow has no compare-and-set on aliases; creating a registered model is atomic (a unique key in
the store, SQLite or Postgres behind a server), so a model named `<name>.promotion-lock` is the
lock. Promotion and rollback both take it.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from mlstack.errors import RegistryError
from mlstack.lineage import TAG_PREFIX
from mlstack.registry import CHAMPION

if TYPE_CHECKING:
    from mlflow import MlflowClient

LOCK_SUFFIX = ".promotion-lock"
LOCK_TTL_SECONDS = 120.0  # a lock older than this was left by a crashed process and is broken
LOCK_WAIT_SECONDS = 60.0
_LOCK_OWNER = TAG_PREFIX + "lock.owner"
_LOCK_AT = TAG_PREFIX + "lock.acquired_at"


@contextmanager
def promotion_lock(client: MlflowClient, name: str, wait: float = LOCK_WAIT_SECONDS) -> Iterator[None]:
    """Hold the mutex for moving `champion` of model `name`; RegistryError after `wait` seconds.

    The lock is deleted on release; one older than LOCK_TTL_SECONDS is broken.
    """
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
        held = lock_tags(client, lock)
        if held.get(_LOCK_OWNER) == owner:  # our create went through but its answer was lost
            break
        try:
            age = time.time() - float(held.get(_LOCK_AT, "nan"))
        except ValueError:
            age = float("nan")
        if age > LOCK_TTL_SECONDS:
            delete_lock(client, lock)
            continue
        if time.monotonic() > deadline:
            raise RegistryError(
                f"model {name}: another promotion or rollback holds {lock} (for {age:.0f}s); try again"
            )
        time.sleep(0.1 + random.random() * 0.2)  # noqa: S311 - jitter, not crypto
    try:
        yield
    finally:
        if lock_tags(client, lock).get(_LOCK_OWNER) == owner:
            delete_lock(client, lock)


def lock_tags(client: MlflowClient, lock: str) -> dict[str, str]:
    """The tags of lock model `lock` (owner, acquired at), or {} when nobody holds it."""
    try:
        return dict(client.get_registered_model(lock).tags)
    except Exception:
        return {}


def delete_lock(client: MlflowClient, lock: str) -> None:
    """Release (or break) lock model `lock`; one already gone is fine."""
    try:
        client.delete_registered_model(lock)
    except Exception as exc:  # gone already (broken by another process) is fine
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc) and "not found" not in str(exc).lower():
            raise
