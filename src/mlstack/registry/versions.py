"""Model versions: register a run's model, find versions, read the champion, list them all."""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mlstack import tracking
from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec
from mlstack.errors import RegistryError
from mlstack.lineage import TAG_PREFIX, orchestrator_context
from mlstack.model.train import run_model_uri
from mlstack.registry import CHALLENGER, CHAMPION, now

if TYPE_CHECKING:
    from mlflow import MlflowClient
    from mlflow.entities.model_registry import ModelVersion


@dataclass(frozen=True)
class RegisterResult:
    """The version a run's model got (or had already), under alias `challenger` when new."""

    name: str
    version: str
    run_id: str
    created: bool  # False when this run (or orchestrator run) was registered before

    def to_dict(self) -> dict[str, Any]:
        """Every field, as the CLI and XCom carry it."""
        return asdict(self)


def register(run_id: str, settings: Settings, spec: DatasetSpec) -> RegisterResult:
    """Create a version of the run's model with lineage tags and alias `challenger`.

    Idempotent: a retried or cleared task finds the version made for the same run, or for the
    same orchestrator run, instead of registering a duplicate.
    """
    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec)
    run = client.get_run(run_id)
    context = orchestrator_context()
    existing = find_version(settings, name, run_id=run_id)
    if existing is None and context["orchestrator"] != "cli":
        existing = find_version(
            settings, name, tag=(TAG_PREFIX + "orchestrator_run_id", context["orchestrator_run_id"])
        )
    if existing is not None:
        _complete(client, name, str(existing.version))
        return RegisterResult(name, str(existing.version), str(existing.run_id or run_id), False)

    import mlflow

    tags = {k: v for k, v in run.data.tags.items() if k.startswith(TAG_PREFIX)}
    tags.update({TAG_PREFIX + k: v for k, v in context.items()})
    tags[TAG_PREFIX + "registered_at"] = now()
    version = mlflow.register_model(run_model_uri(run_id), name, tags=tags, await_registration_for=120)
    _wait_ready(client, name, str(version.version))
    client.set_registered_model_alias(name, CHALLENGER, str(version.version))
    return RegisterResult(name, str(version.version), run_id, True)


def _complete(client: MlflowClient, name: str, version: str) -> None:
    """Finish what a try killed after creating `version` left undone: READY, alias `challenger`.

    The alias moves only forward: re-registering an older run leaves a newer challenger alone.
    """
    _wait_ready(client, name, version)
    try:
        current = client.get_model_version_by_alias(name, CHALLENGER).version
    except Exception as exc:
        if not is_not_found(exc):
            raise
        current = None
    if current is None or int(current) < int(version):
        client.set_registered_model_alias(name, CHALLENGER, version)


def _wait_ready(client: MlflowClient, name: str, version: str, timeout: float = 120.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        status = client.get_model_version(name, version).status
        if status == "READY":
            return
        if status == "FAILED_REGISTRATION":
            raise RegistryError(f"model {name} version {version}: registration failed")
        time.sleep(0.5)
    raise RegistryError(f"model {name} version {version}: not READY after {timeout:.0f}s")


def find_version(
    settings: Settings,
    name: str,
    run_id: str | None = None,
    tag: tuple[str, str] | None = None,
) -> ModelVersion | None:
    """The first version of `name` made from `run_id` or carrying tag (key, value); None if none."""
    client = tracking.configure(settings)
    # A failed search is an error, not "none": register() would make a duplicate version.
    versions = client.search_model_versions(f"name = '{name}'")
    for v in versions:
        if run_id and v.run_id == run_id:
            return v
        if tag and v.tags.get(tag[0]) == tag[1]:
            return v
    return None


def champion_version(settings: Settings, name: str) -> str | None:
    """The version `champion` points at; None when there is no such model or alias yet.

    Any other failure (registry down, 5xx, no permission) raises RegistryError: "no champion"
    would make the gate promote without comparing, and rollback lose its way back.
    """
    from mlflow.exceptions import MlflowException

    client = tracking.configure(settings)
    try:
        return str(client.get_model_version_by_alias(name, CHAMPION).version)
    except MlflowException as exc:
        if is_not_found(exc):
            return None
        raise RegistryError(f"model {name}: cannot read @{CHAMPION} ({_short(exc)})") from None
    except Exception as exc:  # connection errors from the HTTP client
        raise RegistryError(f"model {name}: cannot read @{CHAMPION} ({_short(exc)})") from None


def is_not_found(exc: Exception) -> bool:
    """True for MLflow's "no such model" and "no such alias" answers, False for any other error."""
    code = str(getattr(exc, "error_code", ""))
    if "RESOURCE_DOES_NOT_EXIST" in code:
        return True
    # An alias that is not set comes back as INVALID_PARAMETER_VALUE "... alias <x> not found."
    return "INVALID_PARAMETER_VALUE" in code and "alias" in str(exc) and "not found" in str(exc)


def _short(exc: Exception) -> str:
    text = " ".join(str(exc).split())
    return f"{exc.__class__.__name__}: {text}"[:300]


def list_versions(settings: Settings, spec: DatasetSpec) -> list[dict[str, Any]]:
    """Every version, newest first: aliases, run metrics, lineage and gate tags."""
    client = tracking.configure(settings)
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
