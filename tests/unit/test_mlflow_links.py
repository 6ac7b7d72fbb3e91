"""The one MLflow UI link builder (Streamlit pages and the Airflow plugin both use it)."""

from __future__ import annotations

from mlstack import mlflow_links

from .conftest import make_settings

BASE = "http://127.0.0.1:5000"


def test_run_links_with_and_without_the_experiment():
    assert mlflow_links.run_url(BASE, "abc123", "7") == f"{BASE}/#/experiments/7/runs/abc123"
    assert mlflow_links.run_url(BASE, "abc123") == f"{BASE}/#/runs/abc123"  # the UI finds the experiment
    assert mlflow_links.run_url(None, "abc123", "7") is None  # embedded store: no UI
    assert mlflow_links.run_url(BASE, None) is None and mlflow_links.run_url(BASE, "") is None


def test_model_version_links_quote_the_name():
    url = mlflow_links.model_version_url(BASE, "penguins classifier", 3)
    assert url == f"{BASE}/#/models/penguins%20classifier/versions/3"
    assert mlflow_links.model_version_url(BASE, "m", 0) == f"{BASE}/#/models/m/versions/0"
    assert mlflow_links.model_version_url(BASE, "m", None) is None
    assert mlflow_links.model_version_url(BASE, "m", "") is None
    assert mlflow_links.model_version_url(BASE, None, 1) is None
    assert mlflow_links.model_version_url(None, "m", 1) is None


def test_the_base_is_the_ui_setting_without_credentials(tmp_path):
    assert make_settings(tmp_path).resolved_mlflow_ui_url is None  # embedded: nothing to link to
    server = make_settings(tmp_path, tracking_uri="http://user:pw@mlflow:5000/")
    assert mlflow_links.run_url(server.resolved_mlflow_ui_url, "r") == "http://mlflow:5000/#/runs/r"


def test_embedded_hint_says_how_to_open_a_ui(tmp_path):
    settings = make_settings(tmp_path)
    hint = mlflow_links.embedded_ui_hint(settings)
    assert f"mlflow ui --backend-store-uri {settings.resolved_tracking_uri}" in hint
    assert "MLSTACK_MLFLOW_UI_URL" in hint
