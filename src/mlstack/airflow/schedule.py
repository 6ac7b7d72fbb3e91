"""DAG schedules from settings: one rule for every DAG (cron or preset; "none" means manual only).

The drift monitor also runs whenever the batch inference DAG publishes new predictions (the
`batch_predictions` Asset): data-aware scheduling, next to its own cron.
"""

from __future__ import annotations

from typing import Any

from mlstack.config import Settings

BATCH_PREDICTIONS_URI = "mlstack://batch-predictions"

NO_SCHEDULE = frozenset({"", "none", "null", "off", "manual"})


def parse_schedule(value: str | None) -> str | None:
    """A cron expression or preset as given, or None (manual only) for an empty or "off"-like value."""
    if value is None or value.strip().lower() in NO_SCHEDULE:
        return None
    return value.strip()


def training_schedule(settings: Settings) -> str | None:
    """The training DAG's schedule (``MLSTACK_SCHEDULE``)."""
    return parse_schedule(settings.schedule)


def drift_schedule(settings: Settings) -> str | None:
    """The drift monitor DAG's schedule (``MLSTACK_DRIFT_SCHEDULE``)."""
    return parse_schedule(settings.drift_schedule)


def batch_predictions_asset() -> Any:
    """The Airflow Asset the batch inference DAG updates each time it writes predictions."""
    from airflow.sdk import Asset

    return Asset(name="batch_predictions", uri=BATCH_PREDICTIONS_URI, group="mlstack")


def drift_dag_schedule(settings: Settings) -> Any:
    """The drift monitor's schedule: new batch predictions, or its cron (MLSTACK_DRIFT_SCHEDULE),
    whichever comes first; only the Asset when the cron is off."""
    from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable

    cron = drift_schedule(settings)
    asset = batch_predictions_asset()
    if cron is None:
        return [asset]
    return AssetOrTimeSchedule(timetable=CronTriggerTimetable(cron, timezone="UTC"), assets=[asset])


def quality_schedule(settings: Settings) -> str | None:
    """The live quality DAG's schedule (``MLSTACK_QUALITY_SCHEDULE``)."""
    return parse_schedule(settings.quality_schedule)
