"""The prediction API in-process (FastAPI's TestClient) against a real embedded MLflow champion:
predictions with ids in the log, MLflow's scoring formats, the served model, probes, limits,
auth and metrics."""

from __future__ import annotations

import io
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from devstack.ports import free_port
from mlstack import lifecycle
from mlstack.api.app import create_app
from mlstack.errors import ConfigError
from mlstack.monitoring.prediction_log import read_predictions
from tests.support.rows import GOOD_ROW

from .conftest import make_settings

ROW = GOOD_ROW
TOKEN = "a-long-random-test-token-0123456789abcdef"


@pytest.fixture(scope="module")
def client(trained):
    ctx, _ = trained
    with TestClient(create_app(ctx.settings, ctx.spec, env={})) as c:
        yield c


def _metric(client: TestClient, name: str, **labels: str) -> float:
    """The value of one sample of /metrics (0 when absent)."""
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in client.get("/metrics").text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        sample, value = line.rsplit(" ", 1)
        metric, _, rest = sample.partition("{")
        given = ",".join(sorted(rest.rstrip("}").split(","))) if rest else ""
        if metric == name and given == wanted:
            return float(value)
    return 0.0


def test_predict_answers_with_version_class_probabilities_and_logged_ids(client, trained):
    ctx, summary = trained
    logged_before = len(read_predictions(ctx.settings))
    response = client.post("/v1/predict", json={"rows": [ROW, {**ROW, "island": "Torgersen", "sex": None}]})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["model"] == summary["register"]["name"]
    assert (body["version"], body["alias"], body["stale"]) == (summary["champion"], "champion", False)
    assert body["prediction_log_error"] is None
    first = body["predictions"][0]
    assert first["prediction"] == "Gentoo"
    assert set(first["probabilities"]) == set(ctx.spec.classes)
    assert abs(sum(first["probabilities"].values()) - 1) < 1e-9
    ids = [p["prediction_id"] for p in body["predictions"]]
    assert len(set(ids)) == 2 and all(len(i) == 32 for i in ids)

    log = read_predictions(ctx.settings)
    assert len(log) == logged_before + 2
    mine = log[log["prediction_id"].isin(ids)]
    assert sorted(mine["prediction_id"]) == sorted(ids)
    assert set(mine["source"]) == {"api"}
    assert mine.set_index("prediction_id").loc[ids[0], "prediction"] == "Gentoo"


def test_bad_row_is_422_naming_row_field_and_problem(client, trained):
    ctx, _ = trained
    logged_before = len(read_predictions(ctx.settings))
    response = client.post("/v1/predict", json={"rows": [ROW, {**ROW, "island": "Atlantis", "year": 1999}]})
    assert response.status_code == 422
    body = response.json()
    assert "row 1:" in body["detail"] and "'Atlantis' is not one of" in body["detail"]
    problems = {(p["row"], p["field"]) for p in body["problems"]}
    assert problems == {(1, "island"), (1, "year")}
    assert any("outside [2007.0, 2030.0]" in p["message"] for p in body["problems"])
    assert len(read_predictions(ctx.settings)) == logged_before, "a refused request reached the log"


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        ({"rows": []}, 422, "no rows to predict"),
        ({"rows": [1, 2]}, 422, "expected a JSON object (one row) or a list of objects"),
        ({"row": [ROW]}, 422, 'expected {"rows"'),
        ({"rows": [ROW], "extra": 1}, 422, "unknown key(s) ['extra']"),
        ({"rows": [{**ROW, "island": ["Dream"]}]}, 422, "field 'island'"),
        ({"rows": [{**ROW, "bill_length_mm": {"value": 40}}]}, 422, "field 'bill_length_mm'"),
        ({"rows": [{**ROW, "year": True}]}, 422, "field 'year'"),
        ({"rows": [{**ROW, "body_mass_g": float("inf")}]}, 422, "is not finite"),  # 1e400 in JSON
        ({"rows": [{**ROW, "year": 10**400}]}, 422, "field 'year'"),
        ({"rows": [{**ROW, "body_mass_g": float("nan")}]}, 422, "is not a number"),  # bare NaN: not a null
        ({"rows": [{**ROW, "body_mass_g": None}]}, 200, ""),  # null: missing, and nullable
        ({"rows": [{**ROW, "year": float("nan")}]}, 422, "field 'year': 'NaN' is not a number"),
        ({"rows": [{**ROW, "year": None}]}, 422, "field 'year': a value is required"),
        ({"rows": [{**ROW, "island": 1}]}, 422, "field 'island': '1' is not one of"),
        ({"rows": [{**ROW, "island": True}]}, 422, "field 'island'"),
        ({"rows": [{**ROW, "sex": "m\u00e4le\u0000"}]}, 422, "field 'sex'"),
        ({"rows": [{**ROW, "island": "D" * 100_000}]}, 422, "field 'island'"),
        ({"rows": [{}]}, 422, "absent field(s) 'island', 'bill_length_mm'"),
        ({"rows": "island=Dream"}, 422, "expected a JSON object (one row) or a list of objects"),
        ({"rows": None}, 422, "expected a JSON object (one row) or a list of objects"),
        ([ROW], 422, 'expected {"rows"'),
    ],
)
def test_malformed_requests_are_4xx_with_the_reason(client, body, status, words):
    import json

    text = json.dumps(body).replace("Infinity", "1e400")
    response = client.post("/v1/predict", content=text, headers={"content-type": "application/json"})
    assert response.status_code == status, response.text
    if status != 200:
        assert words in response.json()["detail"]


def test_not_json_and_limits(trained):
    ctx, _ = trained
    settings = ctx.settings.model_copy(update={"api_max_rows": 3, "api_max_body_bytes": 2_000})
    with TestClient(create_app(settings, ctx.spec, env={})) as small:
        response = small.post(
            "/v1/predict", content=b"{rows: [", headers={"content-type": "application/json"}
        )
        assert response.status_code == 400 and "not valid JSON" in response.json()["detail"]
        response = small.post("/v1/predict", json={"rows": [ROW] * 4})
        assert response.status_code == 413 and "4 rows in one request; at most 3" in response.json()["detail"]
        response = small.post("/v1/predict", json={"rows": [{**ROW, "island": "x" * 3_000}]})
        assert response.status_code == 413 and "at most 2000" in response.json()["detail"]
        assert small.post("/v1/predict", json={"rows": [ROW] * 3}).status_code == 200
        assert _metric(small, "mlstack_api_input_errors_total", reason="too_many_rows") == 1
        assert _metric(small, "mlstack_api_input_errors_total", reason="too_large") == 1
        assert _metric(small, "mlstack_api_input_errors_total", reason="bad_json") == 1


def test_invocations_accepts_mlflow_formats(client):
    columns = list(ROW)
    bodies = [
        {"dataframe_records": [ROW, ROW]},
        {"dataframe_split": {"columns": columns, "data": [list(ROW.values())] * 2}},
        {"instances": [ROW, ROW]},
        {"inputs": {k: [v, v] for k, v in ROW.items()}},
    ]
    for body in bodies:
        response = client.post("/invocations", json=body)
        assert response.status_code == 200, (body, response.text)
        assert response.json() == {"predictions": ["Gentoo", "Gentoo"]}
    csv = ",".join(columns) + "\n" + (",".join(str(v) for v in ROW.values()) + "\n") * 2
    response = client.post("/invocations", content=csv.encode(), headers={"content-type": "text/csv"})
    assert response.status_code == 200, response.text
    assert response.json() == {"predictions": ["Gentoo", "Gentoo"]}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"records": [ROW]}, "expected exactly one of"),
        ({"dataframe_split": {"columns": ["island"], "data": [["Dream", 1]]}}, "has 2 values for 1 columns"),
        ({"dataframe_records": [{**ROW, "island": "Mars"}]}, "'Mars' is not one of"),
        (b"", "request.csv: the file is empty"),
        (b"island,year\nMars,2008\n", "absent field(s) 'bill_length_mm'"),  # a table: columns first
        (
            b"island,bill_length_mm,bill_depth_mm,flipper_length_mm,body_mass_g,sex,year\n"
            b"Mars,47.5,14.8,217,5200,female,2008\n",
            "'Mars' is not one of",
        ),
        (b"\xff\xfe\x00garbage", "request.csv"),
    ],
)
def test_invocations_refusals_read_like_mlflow(client, body, words):
    if isinstance(body, bytes):
        response = client.post("/invocations", content=body, headers={"content-type": "text/csv"})
    else:
        response = client.post("/invocations", json=body)
    assert 400 <= response.status_code < 500
    assert response.json()["error_code"] == "BAD_REQUEST"
    assert words in response.json()["message"]


def test_model_info_has_lineage_and_gate(client, trained):
    _, summary = trained
    body = client.get("/v1/model").json()
    assert body["version"] == summary["champion"] and body["alias"] == "champion"
    assert body["gate"]["verdict"] == "promoted"
    assert body["lineage"]["dataset_id"]


def test_probes_and_openapi(client, trained):
    ctx, summary = trained
    assert client.get("/health").json() == {"status": "ok"}
    ready = client.get("/ready")
    assert ready.status_code == 200 and ready.json()["version"] == summary["champion"]
    schema = client.get("/openapi.json").json()
    row = schema["components"]["schemas"]["PenguinsRow"]
    assert row["properties"]["island"]["enum"] == ctx.spec.features["island"].categories
    assert row["properties"]["year"]["minimum"] == 2007 and "year" in row["required"]
    assert {"type": "null"} in row["properties"]["sex"]["anyOf"]
    assert row["additionalProperties"] is False
    request = schema["paths"]["/v1/predict"]["post"]["requestBody"]["content"]["application/json"]
    assert request["schema"]["$ref"].endswith("/PredictRequest")
    docs = client.get("/docs")
    assert docs.status_code == 200 and "cdn" not in docs.text.lower()  # works without a network
    script = re.search(r'src="([^"]+swagger-ui-bundle\.js)"', docs.text).group(1)
    assert client.get(script).status_code == 200


def test_metrics_move(client, trained):
    _, summary = trained
    version = summary["champion"]
    ok = {"route": "/v1/predict", "method": "POST", "status": "200"}
    requests_before = _metric(client, "mlstack_api_requests_total", **ok)
    gentoo_before = _metric(
        client, "mlstack_api_predictions_total", model_version=version, prediction="Gentoo"
    )
    errors_before = _metric(client, "mlstack_api_input_errors_total", reason="unknown_category")
    client.post("/v1/predict", json={"rows": [ROW, ROW, ROW]})
    client.post("/v1/predict", json={"rows": [{**ROW, "island": "Mars"}]})
    assert _metric(client, "mlstack_api_requests_total", **ok) == requests_before + 1
    assert _metric(client, "mlstack_api_request_duration_seconds_count", **ok) >= requests_before + 1
    assert (
        _metric(client, "mlstack_api_predictions_total", model_version=version, prediction="Gentoo")
        == gentoo_before + 3
    )
    assert _metric(client, "mlstack_api_input_errors_total", reason="unknown_category") == errors_before + 1
    served = {"model": summary["register"]["name"], "alias": "champion", "version": version}
    assert _metric(client, "mlstack_api_served_model_version", **served) == 1
    assert _metric(client, "mlstack_api_model_load_seconds_count") >= 1
    assert _metric(client, "mlstack_api_requests_total", route="unmatched", method="GET", status="404") == 0
    client.get("/no/such/path")
    assert _metric(client, "mlstack_api_requests_total", route="unmatched", method="GET", status="404") == 1


def test_auth_on_when_a_token_is_set(trained):
    ctx, _ = trained
    settings = ctx.settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    with TestClient(create_app(settings, ctx.spec, env={})) as guarded:
        assert guarded.post("/v1/predict", json={"rows": [ROW]}).status_code == 401
        wrong = guarded.post("/v1/predict", json={"rows": [ROW]}, headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401 and wrong.headers["www-authenticate"] == "Bearer"
        assert guarded.post("/invocations", json={"instances": [ROW]}).status_code == 401
        assert guarded.get("/v1/model").status_code == 401
        good = {"Authorization": f"Bearer {TOKEN}"}
        assert guarded.post("/v1/predict", json={"rows": [ROW]}, headers=good).status_code == 200
        assert guarded.post("/invocations", json={"instances": [ROW]}, headers=good).status_code == 200
        for open_path in ("/health", "/ready", "/metrics", "/openapi.json"):
            assert guarded.get(open_path).status_code == 200, open_path


def test_production_mode_refuses_to_start_without_a_proper_token(trained):
    ctx, _ = trained
    production = {"MLSTACK_ENV": "production"}
    with pytest.raises(ConfigError, match="MLSTACK_API_TOKEN"):
        create_app(ctx.settings, ctx.spec, env=production)
    weak = ctx.settings.model_copy(update={"api_token": SecretStr("change-me")})
    with pytest.raises(ConfigError, match="known default"):
        create_app(weak, ctx.spec, env=production)
    strong = ctx.settings.model_copy(update={"api_token": SecretStr(TOKEN)})
    assert create_app(strong, ctx.spec, env=production) is not None
    assert create_app(ctx.settings, ctx.spec, env={"MLSTACK_ENV": "development"}) is not None


def test_mlstack_serve_natively_in_production_refuses_default_secrets_before_serving(tmp_path):
    """Issue 15 §2 outside the stack: the real `mlstack serve`, in production mode, with the
    shipped `change-me` in .secrets of its working folder, exits 2 before it listens, naming each
    variable (the token, and the MLflow password it would log in with) and no value."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if k in {"PATH", "HOME", "LANG", "TMPDIR"}}
    env.update(
        MLSTACK_ENV="production", MLFLOW_TRACKING_USERNAME="admin", MLFLOW_TRACKING_URI="http://127.0.0.1:9"
    )
    command = [str(Path(sys.executable).parent / "mlstack"), "serve", "--port", str(port)]
    example = (Path(__file__).resolve().parents[2] / ".secrets.example").read_text()
    (tmp_path / ".secrets").write_text(example)
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2, out
    assert "(MLSTACK_API_TOKEN): is a known default" in out
    assert "(MLFLOW_TRACKING_PASSWORD): is empty or not set" in out  # the client password, set nowhere
    assert "change-me" not in out

    from devstack.stack_secrets import render

    (tmp_path / ".secrets").write_text(render(example))
    # a default exported by hand is refused too
    env["MLFLOW_TRACKING_PASSWORD"] = "change-me"  # pragma: allowlist secret
    proc = subprocess.run(command, cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    out = " ".join((proc.stdout + proc.stderr).split())
    assert proc.returncode == 2 and "(MLFLOW_TRACKING_PASSWORD): is a known default" in out, out
    assert "MLSTACK_API_TOKEN" not in out


def test_not_ready_before_a_champion(tmp_path):
    ctx = lifecycle.context(make_settings(tmp_path / "empty"), "penguins")
    with TestClient(create_app(ctx.settings, ctx.spec, env={})) as empty:
        assert empty.get("/health").status_code == 200
        ready = empty.get("/ready")
        assert ready.status_code == 503 and "no @champion yet" in ready.json()["detail"]
        assert ready.json()["status"] == "waiting-for-champion"  # the compose healthcheck reads it
        response = empty.post("/v1/predict", json={"rows": [ROW]})
        assert response.status_code == 503
        # a bad request is still the caller's problem, even with nothing to serve
        assert empty.post("/v1/predict", json={"rows": [{**ROW, "island": "Mars"}]}).status_code == 422
        assert empty.get("/v1/model").status_code == 503


def test_secrets_check_api_and_make_secrets_token():
    """`mlstack secrets check api` checks the token (only when named); `make secrets` writes one
    that passes; `mlstack config` masks it."""
    from dotenv import dotenv_values

    from devstack.stack_secrets import ROOT, render
    from mlstack.secrets_check import check_secrets

    production = {"MLSTACK_ENV": "production"}
    report = check_secrets(["api"], env=production)
    assert report.refused and report.findings[0].variable == "MLSTACK_API_TOKEN"
    assert "set MLSTACK_API_TOKEN in .secrets" in report.to_text()
    assert "Prediction API token" not in check_secrets(["all"], env=production).to_text()
    generated = dotenv_values(stream=io.StringIO(render((ROOT / ".secrets.example").read_text())))
    assert not check_secrets(["api"], env={**production, **generated}).findings
    settings = make_settings(ROOT / "unused", api_token=SecretStr(generated["MLSTACK_API_TOKEN"]))
    assert settings.masked()["api_token"] == "********"


def test_a_model_that_cannot_load_is_unavailable_and_counted(trained):
    """A champion exists but its model cannot be loaded (here: a loader that fails, standing in
    for a broken artifact store): /ready is 503 `unavailable` (the compose healthcheck calls that
    unhealthy), predictions are 503, and each failed attempt is counted."""
    ctx, _ = trained
    settings = ctx.settings.model_copy(update={"alias_refresh_seconds": 0.0})

    def broken(_settings, name, version):
        raise OSError(f"artifact store unreachable while loading {name}/{version}")

    with TestClient(create_app(settings, ctx.spec, env={}, loader=broken)) as client:
        ready = client.get("/ready")
        assert ready.status_code == 503 and ready.json()["status"] == "unavailable"
        assert "artifact store unreachable" in ready.json()["detail"]
        assert client.post("/v1/predict", json={"rows": [ROW]}).status_code == 503
        assert _metric(client, "mlstack_api_model_load_failures_total") >= 2
        assert _metric(client, "mlstack_api_model_load_seconds_count") == 0
