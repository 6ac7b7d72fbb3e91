"""Drift -> alert -> retrain: what the `drift_monitor` DAG's tasks call, one call per task.

- `check_task` first mails the staleness alert when the champion is older than
  `MLSTACK_MAX_MODEL_AGE_DAYS` (`registry.staleness`), then runs `check_drift` and returns the result's `DriftSummary` as XCom. Bad input
  (missing file, unknown window, no champion, mismatched columns) fails at once with
  `AirflowFailException` (no retry; the failure notifier mails it as a *failure*). Too few rows
  (a quiet prediction log) skips the run: no verdict, no alert, no retraining.
- `retrain_conf` is the short-circuit: the training DAG's conf when drift was found, else None
  (alert and retraining are skipped).
- `alert_task` mails the drift alert (the summary: top drifted columns, report link) through
  `mlstack.alerts.send_alert`, the same SMTP path as failure mails. An SMTP server that cannot be
  reached is logged in one line (host:port and the settings to fix) and the task succeeds: the
  drift is real whether or not the mail went out, so the retraining is still triggered, and
  `make drift-demo` goes on to run it instead of stopping with a queued run left behind.

Airflow is imported only inside the task bodies (DAG files import this module while parsing).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from mlstack.drift.result import DriftSummary, format_summary
from mlstack.errors import MlstackError

log = logging.getLogger(__name__)


def check_task(params: Mapping[str, Any] | None) -> dict[str, Any]:
    """The drift check for one DAG run; returns its summary as XCom (`DriftSummary.to_xcom`)."""
    from mlstack.airflow.params import context_for
    from mlstack.drift.check import check_drift
    from mlstack.drift.inputs import NotEnoughData

    params = params or {}
    try:
        ctx = context_for(params)
        _check_staleness(ctx)
        current = (params.get("current") or ctx.settings.drift_current or "").strip()
        result = check_drift(ctx, current)
    except NotEnoughData as exc:
        from airflow.sdk.exceptions import AirflowSkipException

        raise AirflowSkipException(f"no verdict: {exc}") from exc
    except MlstackError as exc:
        # Bad input or no champion is not transient: fail now, mail it as a failure.
        from airflow.sdk.exceptions import AirflowFailException

        raise AirflowFailException(f"drift check failed: {type(exc).__name__}: {exc}") from exc
    summary = result.summary()
    log.info("%s", format_summary(summary))
    return summary.to_xcom()


def _check_staleness(ctx) -> None:
    """Mail the staleness alert when the champion is older than MLSTACK_MAX_MODEL_AGE_DAYS.

    Checked before the drift check, so a quiet prediction log (a skipped run) still reports it;
    a registry error here is left to the drift check, which reads the same champion."""
    from mlstack.registry.staleness import alert_if_stale

    try:
        alert_if_stale(ctx.settings, ctx.spec)
    except MlstackError as exc:
        log.warning("staleness not checked: %s", exc)


def retrain_conf(
    xcom: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The training DAG's conf when drift was found; None (falsy: short-circuit) otherwise."""
    if not xcom:
        return None
    summary = DriftSummary.from_xcom(xcom)
    if not summary.drift_detected:
        return None
    params = params or {}
    return {"source": summary.retrain_source, "dataset": params.get("dataset") or summary.dataset}


def retrain_action(summary: DriftSummary, training_dag_id: str | None) -> str:
    """The alert's last line: which DAG retrains on what (empty when nothing is triggered)."""
    if not training_dag_id:
        return ""
    source = summary.retrain_source or "the configured source"
    return (
        f"Retraining triggered: DAG {training_dag_id} on {source}. "
        "The promotion gate decides whether the new model replaces the champion."
    )


def alert_task(xcom: Mapping[str, Any], training_dag_id: str | None = None) -> bool:
    """Send the drift alert; False (logged) when SMTP or recipients are not configured or the
    SMTP server cannot be reached. Never fails the task for a mail outage (see module doc)."""
    from mlstack.alerts import drift_alert_mail, send_alert

    summary = DriftSummary.from_xcom(xcom)
    subject, body = drift_alert_mail(summary, action=retrain_action(summary, training_dag_id))
    return send_alert(subject, body)
