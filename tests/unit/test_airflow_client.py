"""The REST v2 client (mlstack.airflow.client) against a scripted API: no server needed."""

from __future__ import annotations

import json
from typing import Any

import pytest

from mlstack.airflow.client import AirflowApiError, AirflowClient


class Response:
    def __init__(self, status: int, body: Any = None) -> None:
        self.status_code = status
        self.content = b"" if body is None else json.dumps(body).encode()
        self.text = self.content.decode()
        self._body = body

    def json(self) -> Any:
        if self._body is None:
            raise ValueError("no body")
        return self._body


class ScriptedApi:
    """requests.Session stand-in: answers from ``routes`` ("METHOD /path" -> list of responses)."""

    def __init__(self, routes: dict[str, list[Response]]) -> None:
        self.routes = routes
        self.calls: list[tuple[str, str, Any]] = []
        self.tokens = 0

    def post(self, url: str, json: Any = None, timeout: float = 0) -> Response:
        assert url.endswith("/auth/token")
        self.tokens += 1
        return Response(201, {"access_token": f"token-{self.tokens}"})

    def request(self, method: str, url: str, headers: dict, json: Any = None, **_: Any) -> Response:
        path = url.split("/api/v2", 1)[1]
        self.calls.append((method, path, json))
        answers = self.routes[f"{method} {path}"]
        return answers.pop(0) if len(answers) > 1 else answers[0]


def client_with(routes: dict[str, list[Response]]) -> tuple[AirflowClient, ScriptedApi]:
    client = AirflowClient("http://airflow.test", "admin", "pw")
    api = ScriptedApi(routes)
    client.session = api  # type: ignore[assignment]
    return client, api


def test_trigger_and_wait_unpauses_names_the_run_and_times_it(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    run = "/dags/dag1/dagRuns/manual__cli_1"
    finished = {
        "dag_run_id": "manual__cli_1",
        "state": "success",
        "queued_at": "2026-01-01T00:00:00Z",
        "start_date": "2026-01-01T00:00:01Z",
        "end_date": "2026-01-01T00:00:11Z",
    }
    client, api = client_with(
        {
            "GET /dags/dag1": [
                Response(404, {"detail": "not parsed yet"}),
                Response(200, {"dag_id": "dag1"}),
            ],
            "PATCH /dags/dag1": [Response(200, {"is_paused": False})],
            "POST /dags/dag1/dagRuns": [Response(200, {"dag_run_id": "manual__cli_1", "state": "queued"})],
            f"GET {run}": [Response(200, {**finished, "state": "running"}), Response(200, finished)],
            f"GET {run}/taskInstances": [
                Response(200, {"task_instances": [{"task_id": "t", "state": "success", "duration": 2.0}]})
            ],
        }
    )
    seen: list[str] = []
    result = client.trigger_and_wait(
        "dag1",
        {"source": "x.csv"},
        run_id="manual__cli_1",
        on_triggered=lambda r: seen.append(r["dag_run_id"]),
    )
    assert seen == ["manual__cli_1"]
    assert (result.state, result.queued_to_start_s, result.run_duration_s) == ("success", 1.0, 10.0)
    assert result.tasks["t"]["duration_s"] == 2.0
    posted = [body for method, path, body in api.calls if method == "POST"]
    assert posted == [{"logical_date": None, "conf": {"source": "x.csv"}, "dag_run_id": "manual__cli_1"}]
    assert ("PATCH", "/dags/dag1", {"is_paused": False}) in api.calls


def test_a_dag_that_never_parses_names_the_import_errors(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    client, _ = client_with(
        {
            "GET /dags/broken": [Response(404, {"detail": "DAG not found"})],
            "GET /importErrors": [
                Response(
                    200, {"import_errors": [{"filename": "dags/broken.py", "stack_trace": "x\nNameError: y"}]}
                )
            ],
        }
    )
    with pytest.raises(AirflowApiError, match=r"broken not found.*dags/broken.py.*NameError: y"):
        client.wait_for_dag("broken", timeout=0)


def test_an_expired_token_is_renewed_once():
    client, api = client_with({"GET /dags/d": [Response(401), Response(200, {"dag_id": "d"})]})
    assert client.get_dag("d") == {"dag_id": "d"}
    assert api.tokens == 2
