"""DAG run params -> settings: the one mapping every DAG task uses (validated like any setting)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from mlstack.config import Settings, load_settings

# DAG param -> Settings field. An empty param (None or "") keeps the configured value.
PARAM_SETTINGS: dict[str, str] = {
    "dataset": "dataset",
    "gate_metric": "gate_metric",
    "gate_floor": "gate_floor",
    "gate_min_improvement": "gate_min_improvement",
    "drift_share": "drift_share",
    "sample_size": "drift_sample_size",
}


def settings_for(params: Mapping[str, Any] | None) -> Settings:
    """Settings with this run's overrides applied; other params (e.g. ``source``) are not settings."""
    params = params or {}
    overrides = {
        field: params[name] for name, field in PARAM_SETTINGS.items() if params.get(name) not in (None, "")
    }
    return load_settings(**overrides)


def context_for(params: Mapping[str, Any] | None):
    """The lifecycle Context (settings + dataset spec) for one DAG run."""
    from mlstack import lifecycle

    settings = settings_for(params)
    return lifecycle.context(settings, dataset=settings.dataset)
