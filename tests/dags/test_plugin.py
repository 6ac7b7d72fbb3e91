"""The mlstack Airflow plugin: loaded from plugins/, and the links it builds from task XComs."""

from __future__ import annotations

import importlib.util

import pytest

from mlstack.airflow.dag_files import PLUGINS_FOLDER

pytestmark = pytest.mark.dags


@pytest.fixture(scope="module")
def links():
    spec = importlib.util.spec_from_file_location(
        "mlstack_links_under_test", PLUGINS_FOLDER / "mlstack_links.py"
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_airflow_loads_the_plugin_and_its_global_links(airflow_configured):
    from airflow import plugins_manager

    names = {link.name for link in plugins_manager.get_global_operator_extra_links()}
    assert {"MLflow run", "Model version"} <= names


def test_links_from_task_return_values(links):
    base = "http://127.0.0.1:5000"
    assert links.run_link({"run_id": "abc123", "metrics": {}}, base) == f"{base}/#/runs/abc123"
    assert links.run_link({"dataset_id": "ds-1"}, base) == ""  # ingest: no run yet
    assert links.run_link({"run_id": "abc"}, None) == ""  # embedded store: no UI to link to
    version = {"name": "penguins classifier", "version": 3, "run_id": "r"}
    assert links.model_version_link(version, base) == f"{base}/#/models/penguins%20classifier/versions/3"
    assert links.model_version_link({"name": "m"}, base) == ""
    assert links.model_version_link("not a dict", base) == ""


def test_ui_base_url_from_settings(links, monkeypatch, tmp_path):
    for key in ("MLSTACK_MLFLOW_UI_URL", "MLFLOW_TRACKING_URI", "MLSTACK_TRACKING_URI"):
        monkeypatch.delenv(key, raising=False)
    monkeypatch.chdir(tmp_path)  # no .env/.secrets here
    assert links.mlflow_ui_url() is None  # embedded SQLite store
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://user:pw@mlflow:5000/")
    assert links.mlflow_ui_url() == "http://mlflow:5000"  # credentials never end up in a link
    monkeypatch.setenv("MLSTACK_MLFLOW_UI_URL", "https://mlflow.example.com")
    assert links.mlflow_ui_url() == "https://mlflow.example.com"
