"""The app against an MLflow server with basic auth, started without a login: the pages say the
login was refused and name the settings, instead of calling the registry unreachable."""

from __future__ import annotations

import pytest

from tests.app.support import all_text, assert_no_exception, isolate_settings, open_app, texts

pytestmark = [pytest.mark.app, pytest.mark.integration]


def test_without_login_the_pages_say_authentication_failed(mlflow_auth_server, tmp_path, monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_USERNAME", raising=False)
    monkeypatch.delenv("MLFLOW_TRACKING_PASSWORD", raising=False)
    isolate_settings(monkeypatch, tmp_path / "home", tracking_uri=mlflow_auth_server.tracking_uri)

    at = open_app()
    home = all_text(at)
    assert "authentication failed" in home and "MLFLOW_TRACKING_USERNAME" in home, home

    at.switch_page("pages/models.py").run()
    assert_no_exception(at)
    errors = texts(at, "error")
    assert any("authentication failed" in e and "MLFLOW_TRACKING_PASSWORD" in e for e in errors), errors
    assert not any("unreachable" in e for e in errors), errors
