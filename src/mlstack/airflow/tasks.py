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


def batch_inference_task(params: Mapping[str, Any] | None) -> dict:
    """Score the run's `source` with `@champion` (see `serving.batch_inference`); the summary as
    XCom. A source that is not allowed or cannot be read, a table without the spec's columns and a
    missing champion fail at once (no retry); bad rows never fail the run, the report lists them."""
    from mlstack.errors import InputError, NoChampionError, SourceError
    from mlstack.serving.batch_inference import run_batch_inference

    params = params or {}
    try:
        ctx = context_for(params)
        source = str(params.get("source") or "").strip()
        if not source:
            raise ConfigError("source: give the rows to score (a path, s3://, http(s)://, postgresql://)")
        result = run_batch_inference(ctx.settings, ctx.spec, source, params.get("output") or None)
    except (InputError, SourceError, ConfigError, NoChampionError) as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    if result.scored == 0:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"no valid row to score in {result.source}; see {result.invalid_rows_uri}")
    return result.to_xcom()


def quality_check_task(params: Mapping[str, Any] | None) -> dict:
    """Live quality of the champion over the run's window (see `monitoring.live_quality`)."""
    import logging

    from mlstack.monitoring.live_quality import quality_verdict

    params = params or {}
    try:
        ctx = context_for(params)
        verdict = quality_verdict(ctx.settings, ctx.spec, params.get("window") or None)
    except ConfigError as exc:
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"{type(exc).__name__}: {exc}") from exc
    logging.getLogger(__name__).info("%s", verdict.message())
    return verdict.to_dict()


def quality_retrain_conf(verdict: Mapping[str, Any] | None, params: Mapping[str, Any] | None) -> dict | None:
    """The training DAG's conf when live quality fell below the floor; None skips the rest."""
    if not verdict or not verdict.get("below_floor"):
        return None
    from mlstack.config import load_settings

    return {"dataset": str((params or {}).get("dataset") or load_settings().dataset)}


def quality_alert_task(verdict: Mapping[str, Any], training_dag_id: str) -> bool:
    """Mail the live quality alert (same SMTP path as drift and failure mails)."""
    from mlstack.alerts import send_alert
    from mlstack.monitoring.live_quality import QualityVerdict

    fields = {k: verdict[k] for k in QualityVerdict.__dataclass_fields__}
    found = QualityVerdict(**fields)
    subject = f"[mlstack] live quality below the floor: {found.model} v{found.version}"
    body = (
        f"<p>{found.message()}</p><p>Retraining triggered: DAG {training_dag_id} on the configured "
        "source. The promotion gate decides whether the new model replaces the champion.</p>"
    )
    return send_alert(subject, body)
