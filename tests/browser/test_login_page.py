"""The Streamlit login in a real headless Chromium (issue 15 §3): a wrong password is refused,
the right one opens the app. `streamlit run` as a real process in production mode, on an empty
home (the login comes before any model is looked up, so no registry is needed)."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess
from tests.browser.test_predict_page import CHROMIUM, CHROMIUM_FLAGS, streamlit_command
from tests.support.require import unavailable

pytestmark = [pytest.mark.browser, pytest.mark.integration]

PASSWORD = "browser-login-password-7f3k"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def login_app(tmp_path_factory) -> Iterator[str]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (Debian package chromium): run `make system-deps`")
    home = tmp_path_factory.mktemp("login") / "home"
    home.mkdir()
    env = {"MLSTACK_HOME": str(home), "MLSTACK_ENV": "production", "MLSTACK_UI_PASSWORD": PASSWORD}
    inherited = [v for v in os.environ if v.startswith("MLSTACK_") or v.startswith("MLFLOW_TRACKING_")]
    port = free_port()
    process = ManagedProcess(
        "streamlit-login",
        streamlit_command(port),
        env=env,
        cwd=home,
        log_dir=tmp_path_factory.mktemp("streamlit-login-log"),
        unset_env=[v for v in inherited if v not in env],
    )
    process.start()
    try:
        process.wait_http(f"http://{LOOPBACK}:{port}/_stcore/health", timeout=120)
        yield f"http://{LOOPBACK}:{port}/"
    finally:
        process.stop()
    assert not process.is_running()


def test_login_refuses_a_wrong_password_and_accepts_the_right_one(login_app):
    from playwright.sync_api import expect, sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.goto(login_app, wait_until="domcontentloaded")
            password = page.get_by_label("Password", exact=True)
            password.wait_for(timeout=120_000)
            expect(page.get_by_role("button", name="Predict")).to_have_count(0)

            password.fill("not-the-password")
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_text("Wrong password.")).to_be_visible(timeout=30_000)
            expect(page.get_by_role("heading", name="Predict")).to_have_count(0)

            page.get_by_label("Password", exact=True).fill(PASSWORD)
            page.get_by_role("button", name="Log in").click()
            expect(page.get_by_role("heading", name="Predict")).to_be_visible(timeout=120_000)
            expect(page.get_by_label("Password", exact=True)).to_have_count(0)
        finally:
            browser.close()
