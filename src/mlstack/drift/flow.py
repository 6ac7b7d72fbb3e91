"""Drift -> alert -> retrain: what the `drift_monitor` DAG's tasks call, one call per task.

- `check_task` first mails the staleness alert when the champion is older than
  `MLSTACK_MAX_MODEL_AGE_DAYS` (`registry.staleness`), then runs `check_drift` and returns the result's `DriftSummary` as XCom. Bad input
  (missing file, unknown window, no champion, mismatched columns) fails at once with
  `AirflowFailException` (no retry; the failure notifier mails it as a *failure*). Too few rows
  (a quiet prediction log) skips the run: no verdict, no alert, no retraining.
- `drift_found` is the first short-circuit: no drift skips the alert and the retraining.
- `retrain_conf` is the second: the training DAG's conf when the drift was found in a batch, else
  None. Only a batch carries labels (the spec's target), so only a batch can be trained on. Drift
  in the prediction log (the default `current=predictions:24h`) is mailed but retrains nothing: the
  log holds features without labels, and retraining on the configured source would learn from data
  that has nothing to do with the drift. The alert says so and what to do instead.
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


def drift_found(xcom: Mapping[str, Any] | None) -> bool:
    """True when the check found drift; False (short-circuit) for no drift or a skipped check."""
    if not xcom:
        return False
    return DriftSummary.from_xcom(xcom).drift_detected


def retrain_conf(
    xcom: Mapping[str, Any] | None, params: Mapping[str, Any] | None = None
) -> dict[str, Any] | None:
    """The training DAG's conf when drift was found in a batch (its kept raw copy is the source);
    None (falsy: short-circuit) for no drift, and for drift in the unlabelled prediction log."""
    if not drift_found(xcom):
        return None
    summary = DriftSummary.from_xcom(xcom or {})
    if not summary.retrain_source:
        return None
    params = params or {}
    return {"source": summary.retrain_source, "dataset": params.get("dataset") or summary.dataset}


def retrain_action(summary: DriftSummary, training_dag_id: str | None) -> str:
    """The alert's last line: which DAG retrains on what, or why nothing retrains (empty when
    the caller triggers no DAG at all)."""
    if not training_dag_id:
        return ""
    if not summary.retrain_source:
        return (
            f"No retraining triggered: the drift is in the prediction log ({summary.current}), which "
            "holds no labels to train on. To retrain on the new data, trigger "
            f"{training_dag_id} with a labelled batch as its source; ground truth for the logged "
            "predictions (mlstack feedback, POST /v1/feedback) feeds the quality_monitor DAG."
        )
    return (
        f"Retraining triggered: DAG {training_dag_id} on {summary.retrain_source}. "
        "The promotion gate decides whether the new model replaces the champion."
    )


def alert_task(xcom: Mapping[str, Any], training_dag_id: str | None = None) -> bool:
    """Send the drift alert; False (logged) when SMTP or recipients are not configured or the
    SMTP server cannot be reached. Never fails the task for a mail outage (see module doc)."""
    from mlstack.alerts import drift_alert_mail, send_alert

    summary = DriftSummary.from_xcom(xcom)
    subject, body = drift_alert_mail(summary, action=retrain_action(summary, training_dag_id))
    return send_alert(subject, body)
