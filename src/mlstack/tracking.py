"""Point MLflow at the configured store and experiment (embedded SQLite or a server)."""

from __future__ import annotations

import functools
import os

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec

# MLflow's own retry budget for HTTP calls; transient server faults are retried with backoff.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "5")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_BACKOFF_FACTOR", "2")
# Progress bars belong to interactive downloads, not to task logs.
os.environ.setdefault("MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR", "false")
# Models carry explicit pip requirements; they need not copy the platform's own uv project.
os.environ.setdefault("MLFLOW_UV_AUTO_DETECT", "false")
os.environ.setdefault("MLFLOW_LOG_UV_FILES", "false")
# Loading a model never runs code: mlstack loads skops files itself (model/artifact.py), and
# MLflow's own loaders refuse every model. Set, not defaulted: no environment turns it back on.
os.environ["MLFLOW_ALLOW_PICKLE_DESERIALIZATION"] = "false"


def configure(settings: Settings):
    """Set tracking/registry URIs; returns an MlflowClient bound to them (`registry_client`)."""
    import mlflow

    if settings.embedded:
        settings.home_dir.mkdir(parents=True, exist_ok=True)
    else:
        from mlstack.server_access import check_s3_endpoint

        check_s3_endpoint(settings)  # before any artifact access: refuse a name the host cannot resolve
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    if settings.registry_uri:
        mlflow.set_registry_uri(settings.registry_uri)
    return registry_client(settings.resolved_tracking_uri, settings.registry_uri)


def registry_client(tracking_uri: str, registry_uri: str | None = None):
    """An MlflowClient that checks a registered model's name once, not before every write.

    MLflow's client reads the registered model before each tag, alias, update or delete on it
    (`_raise_if_prompt`: prompts share the registry's names). A gate decision writes 14 tags on a
    version and a promotion a few more, so against a tracking server every write cost two HTTP
    requests instead of one. This client runs that check once per name (a name that passed is a
    model's for the client's short life) and leaves MLflow's checks otherwise as they are; if a
    later MLflow drops the hook, every write is checked again, as before.
    """
    return _registry_client_class()(tracking_uri, registry_uri)


@functools.cache
def _registry_client_class():
    import mlflow

    class RegistryClient(mlflow.MlflowClient):
        def __init__(self, *args, **kwargs) -> None:
            super().__init__(*args, **kwargs)
            self._checked_names: set[str] = set()

        def _raise_if_prompt(self, name: str) -> None:
            if name not in self._checked_names:
                super()._raise_if_prompt(name)
                self._checked_names.add(name)

    return RegistryClient


def experiment_id(settings: Settings, spec: DatasetSpec, name: str | None = None) -> str:
    """The experiment's id, created on first use (embedded: artifacts under MLSTACK_HOME)."""
    import mlflow

    client = configure(settings)
    name = name or settings.experiment or spec.name
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return experiment.experiment_id
    try:
        return client.create_experiment(name, artifact_location=settings.artifact_location)
    except mlflow.exceptions.MlflowException:  # created concurrently by another process
        return client.get_experiment_by_name(name).experiment_id


def model_name(settings: Settings, spec: DatasetSpec) -> str:
    return settings.model_name or spec.model_name
