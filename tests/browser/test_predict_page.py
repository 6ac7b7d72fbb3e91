"""The Predict page in a real headless Chromium.

`streamlit run` as a real process on a free loopback port, serving from a real MLflow server
(PostgreSQL backend, S3 artifacts on SeaweedFS), with the prediction log in a real PostgreSQL. The
screenshot is kept as a test artifact (test-results/); `make screenshots` also copies it to the
README's picture (docs/img/predict-page.png): a plain test run never changes a tracked file.
"""

from __future__ import annotations

import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from devstack.ports import LOOPBACK, free_port
from devstack.processes import ManagedProcess, venv_tool
from tests.app.support import APP, REPO, SPEC, train
from tests.support.require import unavailable

pytestmark = [pytest.mark.browser, pytest.mark.integration]

CHROMIUM = Path("/usr/bin/chromium")  # Debian's package (make system-deps); no browser downloads here
CHROMIUM_FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
MODEL = "browser-penguins"  # own name and experiment: the shared MLflow server serves other tests too
RESULTS = REPO / "test-results"
README_SCREENSHOT = REPO / "docs" / "img" / "predict-page.png"


@dataclass
class RunningApp:
    url: str
    settings: object
    summary: dict
    log_database: str
    process: ManagedProcess


def streamlit_command(port: int) -> list[str]:
    return [
        venv_tool("streamlit"),
        "run",
        str(APP),
        "--server.headless=true",
        f"--server.address={LOOPBACK}",
        f"--server.port={port}",
        "--browser.gatherUsageStats=false",
        "--server.fileWatcherType=none",
        "--client.toolbarMode=minimal",
    ]


@pytest.fixture(scope="module")
def streamlit_app(mlflow_server, postgres, tmp_path_factory) -> Iterator[RunningApp]:
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (Debian package chromium): run `make system-deps`")
    from mlstack.config import load_settings

    home = tmp_path_factory.mktemp("browser") / "home"
    values = {
        "tracking_uri": mlflow_server.tracking_uri,
        "model_name": MODEL,
        "experiment": MODEL,
    }
    summary = train(home, prediction_log_url=None, data_root=None, **values)
    assert summary["gate"]["verdict"] == "promoted", summary["gate"]
    log_db = postgres.create_database("predlog_browser")
    env = {
        "MLSTACK_HOME": str(home),
        "MLSTACK_TRACKING_URI": mlflow_server.tracking_uri,
        "MLSTACK_MODEL_NAME": MODEL,
        "MLSTACK_EXPERIMENT": MODEL,
        "MLSTACK_PREDICTION_LOG_URL": log_db.url,
        "MLSTACK_ALIAS_REFRESH_SECONDS": "5",
    }
    inherited = [v for v in os.environ if v.startswith("MLSTACK_") or v.startswith("MLFLOW_TRACKING_")]
    port = free_port()
    process = ManagedProcess(
        "streamlit",
        streamlit_command(port),
        env=env,
        cwd=home,  # no .env/.secrets of the checkout
        log_dir=tmp_path_factory.mktemp("streamlit-log"),
        unset_env=[v for v in inherited if v not in env],
    )
    process.start()
    try:
        process.wait_http(f"http://{LOOPBACK}:{port}/_stcore/health", timeout=120)
        settings = load_settings(home=home, **values)
        yield RunningApp(f"http://{LOOPBACK}:{port}/", settings, summary, log_db.name, process)
    finally:
        process.stop()
    assert not process.is_running()


def test_predict_page_in_chromium(streamlit_app, postgres):
    from playwright.sync_api import expect, sync_playwright

    from mlstack import tracking
    from mlstack.data.synthetic import reference_frame
    from mlstack.serving.form import form_defaults
    from mlstack.serving.loader import ModelServer

    settings = streamlit_app.settings
    row = form_defaults(SPEC, reference_frame(SPEC))  # what the form shows
    row.update(bill_length_mm=39.1, island="Torgersen")  # what the test types and picks
    answer = ModelServer(settings, SPEC).predict(row)  # what mlstack.serving says
    run_id = streamlit_app.summary["train"]["run_id"]
    experiment_id = tracking.configure(settings).get_run(run_id).info.experiment_id
    run_url = f"{settings.resolved_tracking_uri}/#/experiments/{experiment_id}/runs/{run_id}"

    RESULTS.mkdir(exist_ok=True)
    shot = RESULTS / "predict-page.png"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_FLAGS
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 1000})
            page.goto(streamlit_app.url, wait_until="domcontentloaded")
            predict = page.get_by_role("button", name="Predict")
            predict.wait_for(timeout=180_000)  # first load: imports + model from S3 via MLflow
            expect(page.get_by_text(f"{MODEL} · version {answer.version}")).to_be_visible()

            page.get_by_role("spinbutton", name="bill_length_mm (optional)").fill("39.1")
            page.get_by_role("combobox", name="island").click()
            page.get_by_role("option", name="Torgersen").click()
            predict.click()

            result = page.get_by_role("heading", name=f"Predicted species: {answer.predictions[0]}")
            expect(result).to_be_visible(timeout=60_000)
            probability = answer.probabilities[0][answer.predictions[0]]
            expect(
                page.get_by_text(f"Probability of {answer.predictions[0]}: {probability:.1%}")
            ).to_be_visible()
            expect(page.get_by_text(f"{MODEL} · version {answer.version} · @champion")).to_be_visible()
            link = page.get_by_role("link", name=re.compile(r"MLflow run"))
            assert link.get_attribute("href") == run_url
            expect(page.locator('[data-testid="stVegaLiteChart"]')).to_be_visible()
            page.wait_for_timeout(800)  # let the chart finish drawing
            page.screenshot(path=str(shot), full_page=True)
        finally:
            browser.close()
    assert shot.stat().st_size > 10_000
    # A test run never changes tracked files; `make screenshots` refreshes the README's copy.
    if os.environ.get("MLSTACK_UPDATE_SCREENSHOTS") == "1":
        shutil.copyfile(shot, README_SCREENSHOT)

    with postgres.connect(streamlit_app.log_database) as conn:
        rows = conn.execute(
            "SELECT source, model_name, model_version, inputs, output FROM predictions ORDER BY id"
        ).fetchall()
    assert len(rows) == 1
    source, name, version, inputs, output = rows[0]
    assert (source, name, version) == ("streamlit-predict", MODEL, str(answer.version))
    assert inputs["bill_length_mm"] == 39.1 and inputs["island"] == "Torgersen"
    assert inputs == {k: row[k] for k in SPEC.feature_names}
    assert output["prediction"] == answer.predictions[0]
    assert output["probabilities"] == pytest.approx(answer.probabilities[0])
