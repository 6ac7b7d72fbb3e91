"""Staleness (Mo4): the champion's age against MLSTACK_MAX_MODEL_AGE_DAYS, and the alert mail
delivered to a real SMTP server (aiosmtpd on 127.0.0.1)."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from mlstack.registry.staleness import alert_if_stale, assess, champion_staleness, staleness_mail

from .conftest import make_settings

NOW = datetime(2026, 12, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("age", "limit", "stale"), [(31, 30, True), (30, 30, False), (5, 30, False), (400, 0, False)]
)
def test_older_than_the_limit_is_stale_and_zero_turns_the_check_off(age, limit, stale):
    s = assess("m", "4", NOW - timedelta(days=age), NOW, limit)
    assert s.stale is stale and s.age_days == pytest.approx(age)
    assert s.to_dict()["stale"] is stale


def test_the_mail_names_model_version_age_and_the_setting():
    subject, body = staleness_mail(assess("penguins-classifier", "4", NOW - timedelta(days=45), NOW, 30))
    assert subject == "[mlstack] stale model penguins-classifier: champion v4 is 45.0 days old (max 30)"
    assert "MLSTACK_MAX_MODEL_AGE_DAYS=30" in body and "version 4" in body


def test_no_champion_is_no_staleness(ctx):
    assert champion_staleness(ctx.settings, ctx.spec) is None


def test_a_stale_champion_is_mailed_once_and_a_fresh_one_is_not(trained, smtp_server):
    ctx, summary = trained
    mail = {
        "smtp_host": smtp_server.host,
        "smtp_port": smtp_server.port,
        "smtp_starttls": False,
        "smtp_ssl": False,
        "smtp_sender": "mlstack-alerts@example.test",
        "alert_recipients": ["ml-team@example.test"],
    }
    fresh = make_settings(ctx.settings.home, **mail)
    assert alert_if_stale(fresh, ctx.spec).stale is False
    later = datetime.now(UTC) + timedelta(days=31)
    stale = alert_if_stale(fresh, ctx.spec, now=later)
    assert stale.stale and stale.version == summary["champion"]
    messages = smtp_server.wait_for(1, timeout=30)
    assert len(messages) == 1
    assert messages[0]["Subject"].startswith(f"[mlstack] stale model {summary['register']['name']}")
    off = replace(stale, max_age_days=0)
    assert not off.stale
