"""The API's /docs in a real headless Chromium: `mlstack serve` as a real process on a free port,
a champion trained on embedded defaults. The page renders offline (packaged Swagger UI), lists the
routes and shows the spec-generated row model; a request sent from "Try it out" is answered. The
screenshot is a test artifact (test-results/); `make screenshots` also copies it to the README's
picture (docs/img/api-docs.png): a plain test run never changes a tracked file."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess, venv_tool
from mlstack import lifecycle
from mlstack.config import Settings
from tests.support.require import unavailable

pytestmark = [pytest.mark.browser, pytest.mark.integration]

REPO = Path(__file__).resolve().parents[2]
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
README_SCREENSHOT = REPO / "docs" / "img" / "api-docs.png"
CLEAN_ENV = ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI", "MLSTACK_ENV", "MLSTACK_API_TOKEN")


def test_docs_page_in_chromium(tmp_path_factory):
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (Debian package chromium): run `make system-deps`")
    from playwright.sync_api import expect, sync_playwright

    home = tmp_path_factory.mktemp("api-docs") / "home"
    ctx = lifecycle.context(Settings(_env_file=None, home=home, tracking_uri=None), "penguins")
    summary = lifecycle.run_all(ctx)
    port = free_port()
    logs = tmp_path_factory.mktemp("api-docs-log")
    process = ManagedProcess(
        "mlstack-serve",
        [venv_tool("mlstack"), "serve", "--port", str(port)],
        env={"MLSTACK_HOME": str(home)},
        unset_env=CLEAN_ENV,
        cwd=home.parent,
        log_dir=logs,
    )
    base = f"http://{LOOPBACK}:{port}"
    results = REPO / "test-results"
    results.mkdir(exist_ok=True)
    shot = results / "api-docs.png"
    process.start()
    try:
        process.wait_http(f"{base}/ready", timeout=90)
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
            )
            try:
                page = browser.new_page(viewport={"width": 1280, "height": 1400})
                page.goto(f"{base}/docs", wait_until="networkidle")
                expect(page.get_by_text("mlstack prediction API: penguins")).to_be_visible(timeout=30_000)
                operation = page.locator("#operations-predictions-predict_v1_predict_post")
                expect(operation).to_be_visible()
                operation.locator(".opblock-summary").click()
                operation.get_by_role("button", name="Try it out").click()
                operation.get_by_role("button", name="Execute").click()  # the spec's typical row
                expect(
                    operation.locator(".live-responses-table tbody .response-col_status").first
                ).to_have_text("200", timeout=30_000)
                expect(operation.get_by_text('"alias": "champion"').first).to_be_visible()
                expect(page.locator("section.models")).to_contain_text("PenguinsRow")
                page.screenshot(
                    path=str(shot), full_page=True, clip={"x": 0, "y": 0, "width": 1280, "height": 2100}
                )
            finally:
                browser.close()
    finally:
        process.stop(timeout=15)
    assert not process.is_running()
    assert shot.stat().st_size > 10_000
    # A test run never changes tracked files; `make screenshots` refreshes the README's copy.
    if os.environ.get("MLSTACK_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, README_SCREENSHOT)
    assert summary["champion"]
