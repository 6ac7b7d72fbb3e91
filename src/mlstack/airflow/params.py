"""DAG params: their definitions (what the trigger form and the REST API accept) and the one
mapping of a run's params to settings that every DAG task uses (validated like any setting).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta
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


def _gate_params() -> dict[str, Any]:
    from airflow.sdk import Param

    return {
        "gate_metric": Param(
            None, type=["null", "string"], description="Gate metric (empty: the spec's, e.g. f1_macro)."
        ),
        "gate_floor": Param(
            None, type=["null", "number"], description="Absolute floor of the gate metric (empty: spec)."
        ),
        "gate_min_improvement": Param(
            None,
            type=["null", "number"],
            minimum=0,
            description="Minimum improvement over the champion (empty: MLSTACK_GATE_MIN_IMPROVEMENT).",
        ),
    }


def training_params(settings: Settings) -> dict[str, Any]:
    """The training DAG's params: source, dataset and the gate overrides."""
    from airflow.sdk import Param

    return {
        "source": Param(
            settings.source,
            type=["null", "string"],
            description="Source URI: path, s3://, http(s)://, postgresql://...?table=. Empty: the spec's source.",
        ),
        "dataset": Param(
            settings.dataset, type="string", description="Dataset spec: a bundled name or a YAML path."
        ),
        **_gate_params(),
    }


def drift_params(settings: Settings) -> dict[str, Any]:
    """The drift monitor DAG's params: what to compare, the dataset and the drift thresholds."""
    from airflow.sdk import Param

    return {
        "current": Param(
            settings.drift_current,
            type="string",
            minLength=1,
            description="Batch URI (path, s3://, http(s)://, postgresql://...?table=) or predictions:<window>",
        ),
        "dataset": Param(settings.dataset, type="string", description="Dataset spec name or YAML path."),
        "drift_share": Param(
            None, type=["null", "number"], minimum=0, maximum=1, description="Empty: MLSTACK_DRIFT_SHARE."
        ),
        "sample_size": Param(
            None, type=["null", "integer"], minimum=0, description="Empty: MLSTACK_DRIFT_SAMPLE_SIZE."
        ),
    }


def batch_params(settings: Settings) -> dict[str, Any]:
    """The batch inference DAG's params: what to score, where to write it, the dataset."""
    from airflow.sdk import Param

    return {
        "source": Param(
            "",
            type="string",
            maxLength=2000,
            description="Rows to score: path, s3://, http(s)://, postgresql://...?table= (within the "
            "source allowlist)",
        ),
        "output": Param(
            None,
            type=["null", "string"],
            maxLength=100,
            description="Folder name under batch-predictions/ in the data store (empty: a UTC timestamp)",
        ),
        "dataset": Param(settings.dataset, type="string", description="Dataset spec name or YAML path."),
    }


def quality_params(settings: Settings) -> dict[str, Any]:
    """The live quality DAG's params: the window and the dataset."""
    from airflow.sdk import Param

    return {
        "window": Param(
            settings.quality_window,
            type="string",
            minLength=2,
            maxLength=20,
            description="Labelled predictions of the last <n><s|m|h|d|w> (default MLSTACK_QUALITY_WINDOW)",
        ),
        "dataset": Param(settings.dataset, type="string", description="Dataset spec name or YAML path."),
    }


def task_defaults(retry_delay: timedelta) -> dict[str, Any]:
    """default_args of every mlstack DAG: retries with backoff, a timeout, one mail after the last try.

    AirflowFailException (bad data, bad settings) skips the retries; a failed drift check, mail or
    trigger is a *failure* alert, never a drift alert.
    """
    from mlstack.alerts import failure_notifier

    return {
        "owner": "mlstack",
        "retries": 2,
        "retry_delay": retry_delay,
        "retry_exponential_backoff": 2.0,
        "max_retry_delay": timedelta(minutes=5),
        "execution_timeout": timedelta(minutes=30),
        "on_failure_callback": failure_notifier(),
    }
