"""DAG schedules from settings: one rule for every DAG (cron or preset; "none" means manual only)."""

from __future__ import annotations

from mlstack.config import Settings

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
