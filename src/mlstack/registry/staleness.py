"""Staleness (M4/Mo4): an alert when the champion was trained longer ago than
`MLSTACK_MAX_MODEL_AGE_DAYS` (0 turns the check off).

`assess()` is the pure rule; `champion_staleness()` reads the champion's age from the registry;
`alert_if_stale()` mails one alert through the same SMTP path as drift alerts. The drift DAG's
check calls it on every run, so a champion nobody retrains is reported on the drift schedule.
"""

from __future__ import annotations

import html
import logging
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

from mlstack.config import Settings
from mlstack.data.spec import DatasetSpec

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Staleness:
    """How old the champion is (since its version was registered) against the allowed age."""

    name: str
    version: str
    trained_at: str
    age_days: float
    max_age_days: float

    @property
    def stale(self) -> bool:
        """True when the check is on (max age > 0) and the champion is older than allowed."""
        return self.max_age_days > 0 and self.age_days > self.max_age_days

    def to_dict(self) -> dict:
        """Every field and `stale`."""
        return {**asdict(self), "stale": self.stale}


def assess(name: str, version: str, created: datetime, now: datetime, max_age_days: float) -> Staleness:
    """The champion's age in days at `now`, against `max_age_days`."""
    age = (now - created).total_seconds() / 86400
    return Staleness(name, str(version), created.isoformat(), round(age, 4), max_age_days)


def champion_staleness(
    settings: Settings, spec: DatasetSpec, now: datetime | None = None
) -> Staleness | None:
    """The current champion's staleness; None when there is no champion yet."""
    from mlstack import tracking
    from mlstack.registry.versions import champion_version

    client = tracking.configure(settings)
    name = tracking.model_name(settings, spec)
    version = champion_version(settings, name)
    if version is None:
        return None
    created = datetime.fromtimestamp(client.get_model_version(name, version).creation_timestamp / 1000, UTC)
    return assess(name, version, created, now or datetime.now(UTC), settings.max_model_age_days)


def staleness_mail(staleness: Staleness) -> tuple[str, str]:
    """Subject and HTML body of the staleness alert."""
    subject = (
        f"[mlstack] stale model {staleness.name}: champion v{staleness.version} is "
        f"{staleness.age_days:.1f} days old (max {staleness.max_age_days:g})"
    )
    body = (
        f"<p>The champion of <b>{html.escape(staleness.name)}</b>, version {staleness.version}, "
        f"was trained at {html.escape(staleness.trained_at)}: {staleness.age_days:.1f} days ago, "
        f"more than MLSTACK_MAX_MODEL_AGE_DAYS={staleness.max_age_days:g}.</p>"
        "<p>Retrain it on fresh data (the training DAG), or raise the limit if the data does not "
        "change.</p>"
    )
    return subject, body


def alert_if_stale(settings: Settings, spec: DatasetSpec, now: datetime | None = None) -> Staleness | None:
    """Mail the staleness alert when the champion is too old; the staleness (None: no champion)."""
    from mlstack.alerts import send_alert

    staleness = champion_staleness(settings, spec, now)
    if staleness is not None and staleness.stale:
        subject, body = staleness_mail(staleness)
        log.warning("%s", subject)
        send_alert(subject, body, settings=settings)
    return staleness
