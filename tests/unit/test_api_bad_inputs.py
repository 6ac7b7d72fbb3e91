"""The bad-input corpus (tests/data/bad/cases.yaml) through the API: every prediction case is a
4xx naming the field and the problem in the CLI's words, none is a 5xx, nothing reaches the
prediction log and @champion does not move. The corpus' batch files, sent as raw request bodies
(binary, UTF-16, HTML, ...), are 4xx too."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from fastapi.testclient import TestClient

from mlstack.api.app import create_app
from mlstack.monitoring.prediction_log import read_predictions
from mlstack.registry.versions import champion_version

BAD = Path(__file__).resolve().parents[1] / "data" / "bad"
CASES = yaml.safe_load((BAD / "cases.yaml").read_text())
PREDICTIONS = {c["name"]: c for c in CASES["predictions"]}
# CLI syntax with no counterpart in a JSON body (a flag without '=', two flags, a file path).
CLI_ONLY = {"cli field without '='", "cli two inputs at once", "cli missing file"}


def _flat(text: str) -> str:
    return " ".join(text.split())


def _assert_mentions(message: str, fragments: list[str]) -> None:
    missing = [f for f in fragments if _flat(f) not in _flat(message)]
    assert not missing, f"message lacks {missing}:\n{message}"


def _cli_body(case: dict) -> tuple[bytes, list[str]]:
    """A CLI case as the JSON body the API would get, and the words to expect."""
    args = case["args"]
    if args[0] == "--json-row":
        text = args[1]
        try:
            json.loads(text)
        except json.JSONDecodeError:  # the same mistake made in a request body
            return f'{{"rows": [{text}]}}'.encode(), ["not valid JSON"]
        return f'{{"rows": {text}}}'.encode(), case["expect"]
    row = dict(a.split("=", 1) for a in args[1::2])
    return json.dumps({"rows": [row]}).encode(), case["expect"]


def _body(case: dict) -> tuple[bytes, list[str]]:
    via = case["via"]
    if via == "cli":
        return _cli_body(case)
    if via == "batch":
        expect = list(case.get("error") or []) + [
            f for fragments in case.get("bad_rows", {}).values() for f in fragments
        ]
        expect += [f"row {i}:" for i in case.get("bad_rows", {})]
        return json.dumps({"rows": case["rows"]}).encode(), expect
    value: Any = case["input"]
    rows = [value] if isinstance(value, dict) else value
    return json.dumps({"rows": rows}).encode(), case["expect"]


@pytest.fixture(scope="module")
def api(trained):
    ctx, summary = trained
    with TestClient(create_app(ctx.settings, ctx.spec, env={})) as client:
        yield client, ctx, summary


def _logged(ctx) -> int:
    try:
        return len(read_predictions(ctx.settings))
    except Exception:  # no log table yet: nothing was logged
        return 0


def test_every_prediction_case_is_covered():
    assert set(PREDICTIONS) >= CLI_ONLY
    assert len(PREDICTIONS) - len(CLI_ONLY) >= 20


@pytest.mark.parametrize("name", [n for n in PREDICTIONS if n not in CLI_ONLY])
def test_bad_prediction_input_is_4xx_with_the_reason(api, name):
    client, ctx, summary = api
    body, expect = _body(PREDICTIONS[name])
    logged_before = _logged(ctx)
    response = client.post("/v1/predict", content=body, headers={"content-type": "application/json"})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    detail = response.json()["detail"]
    _assert_mentions(detail, expect)
    assert "Traceback" not in detail
    assert _logged(ctx) == logged_before, "a refused input reached the prediction log"
    assert champion_version(ctx.settings, summary["register"]["name"]) == summary["champion"]


@pytest.mark.parametrize("name", [n for n, c in PREDICTIONS.items() if c["via"] in ("json", "form", "batch")])
def test_bad_prediction_input_through_invocations(api, name):
    client, _, _ = api
    rows = json.loads(_body(PREDICTIONS[name])[0])["rows"]
    response = client.post("/invocations", json={"dataframe_records": rows})
    assert 400 <= response.status_code < 500, (response.status_code, response.text)
    assert response.json()["error_code"] == "BAD_REQUEST" and response.json()["message"]


@pytest.mark.parametrize("path", sorted((BAD / "batches").iterdir()), ids=lambda p: p.name)
def test_corpus_files_as_raw_bodies_are_4xx(api, path):
    client, _, _ = api
    for route in ("/v1/predict", "/invocations"):
        response = client.post(route, content=path.read_bytes(), headers={"content-type": "application/json"})
        assert 400 <= response.status_code < 500, (route, response.status_code, response.text[:300])
