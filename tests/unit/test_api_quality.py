"""`POST /v1/feedback` and shadow scoring in the API, in-process (FastAPI's TestClient) against a
real embedded MLflow registry with a champion and a different challenger."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from mlstack import lifecycle, tracking
from mlstack.api.app import create_app
from mlstack.monitoring.feedback import labelled_predictions, rejections
from mlstack.monitoring.prediction_log import read_predictions
from tests.support.rows import GOOD_ROW

from .conftest import make_settings

TOKEN = "another-long-random-test-token-0123456789"  # pragma: allowlist secret


@pytest.fixture(scope="module")
def registry(tmp_path_factory):
    home = tmp_path_factory.mktemp("api-quality")
    ctx = lifecycle.context(make_settings(home, shadow_share=1.0), "penguins", trusted_caller=True)
    first = lifecycle.run_all(ctx)["register"]["version"]
    second = lifecycle.run_all(ctx)["register"]["version"]
    client = tracking.configure(ctx.settings)
    name = tracking.model_name(ctx.settings, ctx.spec)
    client.set_registered_model_alias(name, "champion", first)
    client.set_registered_model_alias(name, "challenger", second)
    return ctx, first, second


@pytest.fixture(scope="module")
def client(registry):
    ctx, *_ = registry
    with TestClient(create_app(ctx.settings, ctx.spec, env={})) as c:
        yield c


def test_shadow_scores_after_the_answer_which_stays_the_champions(client, registry):
    ctx, champion, challenger = registry
    response = client.post("/v1/predict", json={"rows": [GOOD_ROW, GOOD_ROW]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["version"] == champion and body["alias"] == "champion"
    assert set(body["predictions"][0]) == {"prediction_id", "prediction", "probabilities"}
    ids = {p["prediction_id"] for p in body["predictions"]}
    logged = read_predictions(ctx.settings, include_shadow=True)
    mine = logged[logged["prediction_id"].isin(ids)]
    assert sorted(mine["shadow"]) == [False, False, True, True]  # share 1.0: both rows shadowed
    assert set(mine[mine["shadow"]]["model_version"]) == {challenger}
    assert set(read_predictions(ctx.settings)["prediction_id"]) >= ids  # served rows only by default


def test_feedback_accepts_known_ids_and_refuses_the_rest_with_reasons(client, registry):
    ctx, *_ = registry
    served = client.post("/v1/predict", json={"rows": [GOOD_ROW, GOOD_ROW]}).json()["predictions"]
    a, b = (p["prediction_id"] for p in served)
    items = [
        {"prediction_id": a, "species": "Gentoo"},
        {"prediction_id": b, "species": "Dodo"},
        {"prediction_id": "0" * 32, "species": "Adelie"},
        {"prediction_id": a, "species": "Adelie"},
    ]
    response = client.post("/v1/feedback", json={"feedback": items})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["accepted"] == 1 and body["rows"] == 4 and "raw_uri" not in body
    reasons = {r["row"]: r["reason"] for r in body["rejected"]}
    assert "not one of the spec's classes" in reasons[2]
    assert "unknown" in reasons[3]
    assert "duplicate of row 1" in reasons[4]
    assert len(rejections(ctx.settings, body["batch_id"])) == 3
    labelled = labelled_predictions(ctx.settings)
    assert set(labelled[labelled["prediction_id"] == a]["label"]) == {"Gentoo"}
    again = client.post("/v1/feedback", json={"feedback": [{"prediction_id": a, "label": "Gentoo"}]})
    assert again.status_code == 422 and "already has a label" in again.json()["rejected"][0]["reason"]


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"rows": []}, "expected"),
        ({"feedback": []}, "non-empty list"),
        ({"feedback": [{"prediction_id": "x"}], "more": 1}, "unknown key"),
        ({"feedback": [{"prediction_id": "0" * 32}]}, "no label column"),
    ],
)
def test_feedback_bodies_that_cannot_be_used_are_refused_with_the_reason(client, body, words):
    response = client.post("/v1/feedback", json=body)
    assert response.status_code == 422 and words in response.json()["detail"]


def test_feedback_needs_the_token_when_one_is_set(registry):
    ctx, *_ = registry
    settings = ctx.settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, ctx.spec, env={})) as c:
        body = {"feedback": [{"prediction_id": "0" * 32, "species": "Adelie"}]}
        assert c.post("/v1/feedback", json=body).status_code == 401
        ok = c.post("/v1/feedback", json=body, headers={"Authorization": f"Bearer {TOKEN}"})
        assert ok.status_code == 422 and "unknown" in ok.json()["rejected"][0]["reason"]


def test_metrics_expose_live_quality_per_version(registry):
    ctx, champion, challenger = registry
    with TestClient(create_app(ctx.settings, ctx.spec, env={})) as c:
        served = c.post("/v1/predict", json={"rows": [GOOD_ROW] * 3}).json()["predictions"]
        items = [{"prediction_id": p["prediction_id"], "species": "Gentoo"} for p in served]
        assert c.post("/v1/feedback", json={"feedback": items}).status_code == 200
        text = c.get("/metrics").text
    served_line = f'mlstack_live_quality{{metric="f1_macro",model_version="{champion}",shadow="false"}}'
    assert any(line.startswith(served_line) for line in text.splitlines()), text[-2000:]
    assert f'mlstack_live_quality_labels{{model_version="{challenger}",shadow="true"}}' in text
