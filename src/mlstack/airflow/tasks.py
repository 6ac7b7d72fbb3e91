"""What the DAG tasks call: one lifecycle step per task, with Airflow's failure semantics."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from typing import Any

from mlstack.airflow.params import context_for
from mlstack.errors import ConfigError, DataValidationError, UnreadableSourceError


def run_step(step: str, params: Mapping[str, Any] | None, *args: Any) -> dict:
    """Run one lifecycle step for an Airflow task; bad data and bad settings are not retried.

    Bad input is not retried: ``DataValidationError``, ``UnreadableSourceError`` (a batch that can
    never be read as given: missing, empty, not CSV/Parquet) and ``ConfigError`` become
    ``AirflowFailException`` (the task fails at once, the failure mail goes out, the champion
    stays). Anything else, an unreachable source included, propagates and Airflow retries it with
    backoff (MLflow, S3 or database hiccups).
    """
    from mlstack import lifecycle

    if step not in lifecycle.STEPS:
        raise ValueError(f"unknown step {step!r}; steps are {lifecycle.STEPS}")
    try:
        with warnings.catch_warnings():
            # skops looks up numpy ufuncs with getattr() on every loaded module; Airflow's
            # deprecation shims answer each lookup with a warning (hundreds per model in dag.test).
            warnings.filterwarnings("ignore", category=FutureWarning, module=r"skops\.")
            warnings.filterwarnings("ignore", message=r".*is deprecated.*", module=r"skops\.")
            ctx = context_for(params)
            if step == "ingest":
                return lifecycle.ingest(ctx, (params or {}).get("source") or None)
            return getattr(lifecycle, step)(ctx, *args)
    except (DataValidationError, UnreadableSourceError, ConfigError) as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
