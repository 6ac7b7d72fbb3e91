"""The Streamlit app's password login and upload cap (issue 15 §3), through AppTest.

The rules (constant-time compare, the process-wide throttle) are `mlstack.security.login`;
tests/unit/test_login_rules.py covers them without Streamlit, tests/browser/test_login_page.py
in a real browser.
"""

from __future__ import annotations

import pandas as pd
import pytest

from tests.app.support import GOOD_ROW, all_text, assert_no_exception, open_app, texts

pytestmark = pytest.mark.app


def log_in(at, password: str):
    at.text_input(key="login.password").set_value(password)
    [button] = [b for b in at.button if b.label == "Log in"]
    button.click().run()
    assert_no_exception(at)
    return at


def test_production_without_a_password_shows_no_page_and_names_the_setting(empty_home, monkeypatch):
    monkeypatch.setenv("MLSTACK_ENV", "production")
    at = open_app()
    text = all_text(at)
    assert "Login not configured" in text and "MLSTACK_UI_PASSWORD is not set" in text, text
    assert "Predict" not in texts(at, "title") and not at.text_input


def test_a_wrong_password_is_refused_and_the_right_one_opens_the_app(empty_home, monkeypatch):
    password = "app-login-right-password-1"  # pragma: allowlist secret
    monkeypatch.setenv("MLSTACK_ENV", "production")
    monkeypatch.setenv("MLSTACK_UI_PASSWORD", password)
    at = open_app()
    assert (
        texts(at, "title") == ["mlstack"] and at.text_input(key="login.password").proto.type == 1
    )  # PASSWORD
    log_in(at, "not-the-password")
    assert "Wrong password." in texts(at, "error")
    assert "Predict" not in texts(at, "title")
    log_in(at, password)
    assert texts(at, "title") == ["Predict"], all_text(at)
    at.run()  # the session stays logged in
    assert texts(at, "title") == ["Predict"]


def test_a_password_set_outside_production_still_asks_for_it(empty_home, monkeypatch):
    monkeypatch.setenv("MLSTACK_ENV", "development")
    monkeypatch.setenv("MLSTACK_UI_PASSWORD", "app-login-dev-password-2")  # pragma: allowlist secret
    at = open_app()
    assert at.text_input(key="login.password") and "Predict" not in texts(at, "title")


def test_failed_logins_are_throttled_for_every_session(empty_home, monkeypatch):
    password = "app-login-throttle-password-3"  # pragma: allowlist secret
    monkeypatch.setenv("MLSTACK_UI_PASSWORD", password)
    at = open_app()
    for _ in range(5):
        log_in(at, "guess")
    fresh = open_app()  # another session of the same process
    log_in(fresh, password)
    errors = texts(fresh, "error")
    assert any(e.startswith("Too many failed logins: try again in") for e in errors), errors
    assert "Predict" not in texts(fresh, "title")


def test_an_upload_over_the_cap_is_refused_before_parsing(app_home, monkeypatch):
    monkeypatch.setenv("MLSTACK_UI_MAX_UPLOAD_MB", "1")
    at = open_app("batch")
    big = pd.DataFrame([GOOD_ROW] * 30_000).to_csv(index=False).encode()
    assert len(big) > 1024 * 1024
    at.file_uploader(key="batch.file").set_value(("big.csv", big, "text/csv")).run()
    assert_no_exception(at)
    errors = texts(at, "error")
    assert any("over the 1 MB upload limit (MLSTACK_UI_MAX_UPLOAD_MB)" in e for e in errors), errors
    assert not any("rows," in m for m in texts(at, "markdown"))  # never read as a table
