"""The promotion lock: one lease per model while its `champion` alias moves, with fencing tokens.

MLflow has no compare-and-set on aliases, and the registry may be SQLite or a server on
PostgreSQL whose database the client cannot reach, so the lock is built from the one atomic
operation every store has: creating a registered model whose name is taken fails.

Each acquisition creates the model `<name>.promotion-lock.<n>`, where `n` is one more than the
highest fence that exists; `n` is the fencing token. The highest fence is the lock: it is free
when its holder tagged it released, when its lease expired, or when the caller is the same task
of the same orchestrator run retrying (a crashed try's lock is its own). Breaking a stale lock is
creating the next fence, never deleting someone else's: two processes breaking the same stale
lock race on one create, and exactly one wins. Whoever moves the alias first checks that its
fence is still the highest and its lease has time left (`LockHandle.ensure_held`), so a holder
that stalled past its lease never moves the alias after someone else took over.

The lease outlasts MLflow's whole retry budget for one call (`mlflow_call_budget_seconds`), so a
holder that passed the check finishes its alias call before anyone may break the lease.
"""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from mlstack.errors import RegistryError
from mlstack.lineage import TAG_PREFIX
from mlstack.registry import CHAMPION

if TYPE_CHECKING:
    from mlflow import MlflowClient

LOCK_SUFFIX = ".promotion-lock"
LOCK_TTL_SECONDS: float | None = None  # None: twice MLflow's retry budget for one call
LOCK_WAIT_SECONDS = 60.0
FENCES_KEPT = 2  # older fences are deleted after an acquisition: the registry stays tidy
_OWNER = TAG_PREFIX + "lock.owner"
_KEY = TAG_PREFIX + "lock.key"
_AT = TAG_PREFIX + "lock.acquired_at"
_TTL = TAG_PREFIX + "lock.ttl_seconds"
_RELEASED = TAG_PREFIX + "lock.released_at"


class LockLostError(RegistryError):
    """The promotion lock was taken over (its lease expired) before the alias moved."""


def mlflow_call_budget_seconds() -> float:
    """The longest one MLflow client call may take with its retries (MLFLOW_HTTP_REQUEST_*)."""
    from mlflow.environment_variables import (
        MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR,
        MLFLOW_HTTP_REQUEST_BACKOFF_JITTER,
        MLFLOW_HTTP_REQUEST_MAX_RETRIES,
        MLFLOW_HTTP_REQUEST_TIMEOUT,
    )

    retries = max(0, MLFLOW_HTTP_REQUEST_MAX_RETRIES.get())
    factor = max(0, MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR.get())
    jitter = max(0.0, MLFLOW_HTTP_REQUEST_BACKOFF_JITTER.get())
    backoff = sum(min(factor * 2**i, 120) + jitter for i in range(retries))  # urllib3 caps at 120 s
    return (retries + 1) * MLFLOW_HTTP_REQUEST_TIMEOUT.get() + backoff


def default_ttl() -> float:
    """The lease of a promotion lock: LOCK_TTL_SECONDS, else twice the retry budget of one call."""
    return LOCK_TTL_SECONDS if LOCK_TTL_SECONDS is not None else 2 * mlflow_call_budget_seconds()


@dataclass(frozen=True)
class Fence:
    """One acquisition of the lock: its token `number` and the tags its holder wrote."""

    number: int
    tags: dict[str, str]

    def expires_at(self) -> float:
        """When the lease ends (epoch seconds); NaN tags count as expired."""
        try:
            return float(self.tags[_AT]) + float(self.tags[_TTL])
        except (KeyError, ValueError):
            return float("-inf")

    def free_for(self, key: str | None) -> bool:
        """True when a caller with retry key `key` may take the next fence."""
        if self.tags.get(_RELEASED) or time.time() > self.expires_at():
            return True
        return key is not None and self.tags.get(_KEY) == key


@dataclass(frozen=True)
class LockHandle:
    """The caller's hold on the lock: fence `number`, owned by `owner`, until `expires_at`."""

    client: Any
    name: str
    number: int
    owner: str
    expires_at: float
    ttl: float

    def ensure_held(self) -> None:
        """Raise LockLostError unless this fence is still the lock with time left to move the alias.

        Time left means at least one MLflow call's retry budget (or half the lease, if shorter).
        """
        margin = min(mlflow_call_budget_seconds(), self.ttl / 2)
        top = highest_fence(self.client, self.name)
        if top is None or top.number != self.number or top.tags.get(_OWNER) != self.owner:
            taken = f"fence {top.number}" if top is not None else "nobody"
            raise LockLostError(
                f"model {self.name}: the promotion lock (fence {self.number}) was taken over by {taken}"
            )
        if time.time() > self.expires_at - margin:
            raise LockLostError(
                f"model {self.name}: the promotion lock (fence {self.number}) expired or is about to "
                f"(lease {self.ttl:.0f}s)"
            )


def fence_prefix(name: str) -> str:
    """Every fence of model `name` is a registered model named this plus its number."""
    return f"{name}{LOCK_SUFFIX}."


def fences(client: MlflowClient, name: str) -> list[Fence]:
    """The fences of model `name` that exist, lowest first."""
    prefix = fence_prefix(name)
    found = client.search_registered_models(filter_string=f"name LIKE '{prefix}%'", max_results=1000)
    out = []
    for model in found:
        tail = model.name[len(prefix) :]
        if model.name.startswith(prefix) and tail.isdigit():
            out.append(Fence(int(tail), dict(model.tags)))
    return sorted(out, key=lambda f: f.number)


def highest_fence(client: MlflowClient, name: str) -> Fence | None:
    """The lock's current fence (held or not), or None before the first promotion."""
    found = fences(client, name)
    return found[-1] if found else None


def holder(client: MlflowClient, name: str) -> Fence | None:
    """The fence that holds the lock now (unreleased, unexpired), or None when it is free."""
    top = highest_fence(client, name)
    return None if top is None or top.free_for(None) else top


@contextmanager
def promotion_lock(
    client: MlflowClient,
    name: str,
    wait: float = LOCK_WAIT_SECONDS,
    ttl: float | None = None,
    key: str | None = None,
) -> Iterator[LockHandle]:
    """Hold the lock for moving `champion` of model `name`; RegistryError after `wait` seconds.

    `ttl` is the lease (default `default_ttl()`). `key` names a task that may retry (the same
    orchestrator run and version): a later try with the same key takes over its own stale lock.
    """
    ttl = default_ttl() if ttl is None else ttl
    owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"
    deadline = time.monotonic() + wait
    while True:
        handle = _try_acquire(client, name, owner, ttl, key)
        if handle is not None:
            break
        if time.monotonic() > deadline:
            top = holder(client, name)
            held = (
                f" (fence {top.number}, lease ends in {top.expires_at() - time.time():.0f}s)" if top else ""
            )
            raise RegistryError(
                f"model {name}: another promotion or rollback holds the lock{held}; try again"
            )
        time.sleep(0.1 + random.random() * 0.2)  # noqa: S311 - jitter, not crypto
    try:
        yield handle
    finally:
        _release(client, handle)


def _try_acquire(
    client: MlflowClient, name: str, owner: str, ttl: float, key: str | None
) -> LockHandle | None:
    from mlflow.exceptions import MlflowException

    top = highest_fence(client, name)
    if top is not None and not top.free_for(key):
        return None
    number = top.number + 1 if top is not None else 1
    fence = fence_prefix(name) + str(number)
    at = time.time()
    tags = {_OWNER: owner, _KEY: key or "", _AT: f"{at:.3f}", _TTL: f"{ttl:.3f}"}
    try:
        client.create_registered_model(
            fence, tags=tags, description=f"mlstack: promotion lock of @{CHAMPION} of {name}, fence {number}"
        )
    except MlflowException as exc:
        if "ALREADY_EXISTS" not in str(exc.error_code) and "already exists" not in str(exc):
            raise
        if _tags_of(client, fence).get(_OWNER) != owner:  # else our create went through, its answer lost
            return None
    # A fence deleted as old could have been created again from a stale read: only the highest counts.
    current = highest_fence(client, name)
    if current is None or current.number != number:
        _delete(client, fence)
        return None
    _forget_old_fences(client, name, number)
    return LockHandle(client, name, number, owner, at + ttl, ttl)


def _release(client: MlflowClient, handle: LockHandle) -> None:
    top = highest_fence(client, handle.name)
    if top is not None and top.number == handle.number and top.tags.get(_OWNER) == handle.owner:
        client.set_registered_model_tag(
            fence_prefix(handle.name) + str(handle.number), _RELEASED, f"{time.time():.3f}"
        )


def _forget_old_fences(client: MlflowClient, name: str, newest: int) -> None:
    for old in fences(client, name):
        if old.number <= newest - FENCES_KEPT:
            _delete(client, fence_prefix(name) + str(old.number))


def _tags_of(client: MlflowClient, model: str) -> dict[str, str]:
    try:
        return dict(client.get_registered_model(model).tags)
    except Exception:
        return {}


def _delete(client: MlflowClient, model: str) -> None:
    try:
        client.delete_registered_model(model)
    except Exception as exc:  # gone already is fine
        if "RESOURCE_DOES_NOT_EXIST" not in str(exc) and "not found" not in str(exc).lower():
            raise
