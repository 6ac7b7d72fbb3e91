"""The app against a real MLflow server (Postgres + S3 artifacts) that goes away after a model
was loaded, with the prediction log in a real PostgreSQL."""

from __future__ import annotations

import time

import pytest

from tests.app.support import (
    GOOD_ROW,
    all_text,
    assert_no_exception,
    click_predict,
    fill_form,
    isolate_settings,
    open_app,
    texts,
    train,
)

pytestmark = [pytest.mark.app, pytest.mark.integration]


def log_rows(postgres, database: str) -> list[tuple]:
    with postgres.connect(database) as conn:
        return conn.execute(
            "SELECT source, model_name, model_version, output->>'prediction', inputs->>'island' "
            "FROM predictions ORDER BY id"
        ).fetchall()


def test_registry_down_after_a_load_keeps_serving_and_says_it_may_be_stale(
    mlflow_server_factory, postgres, tmp_path, monkeypatch
):
    server = mlflow_server_factory()  # our own: this test stops it
    home = tmp_path / "home"
    summary = train(home, tracking_uri=server.tracking_uri, prediction_log_url=None, data_root=None)
    assert str(summary["champion"]) == "1"
    log_db = postgres.create_database("predlog_registry_down")
    isolate_settings(monkeypatch, home, tracking_uri=server.tracking_uri, prediction_log_url=log_db.url)

    at = click_predict(fill_form(open_app(), GOOD_ROW))
    text = all_text(at)
    assert "version **1**" in text and "may be stale" not in text
    # A server has a UI: the banner links to the run.
    run_id = summary["train"]["run_id"]
    assert f"]({server.tracking_uri}/#/experiments/" in text and f"/runs/{run_id})" in text
    [(source, name, version, predicted, island)] = log_rows(postgres, log_db.name)
    assert (source, name, version, island) == ("streamlit-predict", "penguins-classifier", "1", "Biscoe")
    first_prediction = predicted

    server.stop()
    started = time.monotonic()
    at.run()  # alias due for a re-check (refresh 0 s): the registry is gone
    assert time.monotonic() - started < 20, "a page must not hang on MLflow's retry budget"
    assert_no_exception(at)
    [warning] = texts(at, "warning")
    assert "registry is unreachable" in warning and "may be stale" in warning and "v1" in warning
    click_predict(at)
    assert texts(at, "subheader") == [f"Predicted species: {first_prediction}"]
    assert "version **1** · `@champion` · MLflow run" in all_text(at) and "may be stale" in all_text(at)
    rows = log_rows(postgres, log_db.name)
    assert [r[:3] for r in rows] == [("streamlit-predict", "penguins-classifier", "1")] * 2

    at.switch_page("pages/models.py").run()
    assert_no_exception(at)
    assert any("is unreachable" in e for e in texts(at, "error"))

    server.start()  # back: the next re-check clears the warning
    at.switch_page("pages/predict.py").run()
    assert_no_exception(at)
    assert not texts(at, "warning")
    assert "version **1**" in all_text(at)
