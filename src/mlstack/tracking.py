"""Point MLflow at the configured store and experiment (embedded SQLite or a server)."""

from __future__ import annotations

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
    """Set tracking/registry URIs; returns an MlflowClient bound to them."""
    import mlflow

    if settings.embedded:
        settings.home_dir.mkdir(parents=True, exist_ok=True)
    else:
        from mlstack.server_access import check_s3_endpoint

        check_s3_endpoint(settings)  # before any artifact access: refuse a name the host cannot resolve
    mlflow.set_tracking_uri(settings.resolved_tracking_uri)
    if settings.registry_uri:
        mlflow.set_registry_uri(settings.registry_uri)
    return mlflow.MlflowClient(settings.resolved_tracking_uri, settings.registry_uri)


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
