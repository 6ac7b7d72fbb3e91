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
        answer = answers.pop(0) if len(answers) > 1 else answers[0]
        if isinstance(answer, Exception):  # the connection failed or timed out
            raise answer
        return answer


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
                Response(200, {"dag_id": "dag1", "is_paused": True}),
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
    order = [(method, path) for method, path, _ in api.calls if method != "GET"]
    assert order == [("POST", "/dags/dag1/dagRuns"), ("PATCH", "/dags/dag1")]  # unpaused once the run exists


def test_waiting_outlasts_a_busy_api_server_but_not_a_refusal(monkeypatch):
    """A poll that times out or gets a 5xx is tried again (the run goes on); a 4xx is an answer."""
    import requests

    monkeypatch.setattr("time.sleep", lambda s: None)
    run = "/dags/dag1/dagRuns/r1"
    client, api = client_with(
        {
            f"GET {run}": [
                requests.ReadTimeout("read timed out"),
                Response(503, {"detail": "busy"}),
                requests.ConnectionError("refused"),
                Response(200, {"dag_run_id": "r1", "state": "success"}),
            ]
        }
    )
    assert client.wait("dag1", "r1", timeout=60)["state"] == "success"
    assert len(api.calls) == 4
    client, _ = client_with({f"GET {run}": [Response(403, {"detail": "not allowed"})]})
    with pytest.raises(AirflowApiError, match="HTTP 403"):
        client.wait("dag1", "r1", timeout=60)
    client, _ = client_with({f"GET {run}": [requests.ReadTimeout("read timed out")]})
    with pytest.raises(requests.ReadTimeout):
        client.wait("dag1", "r1", timeout=0)


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


# --- triggering a paused DAG never starts a scheduled run ------------------------------------
DUE = {"dag_id": "d", "is_paused": True, "next_dagrun_logical_date": "2026-01-02T00:00:00Z"}


def _start(dag: dict, posts: list[Response]) -> list[tuple[str, str, Any]]:
    client, api = client_with(
        {
            "GET /dags/d": [Response(200, dag)],
            "POST /dags/d/dagRuns": posts,
            "PATCH /dags/d": [Response(200, {"is_paused": False})],
        }
    )
    client.start_run("d", {"a": 1}, run_id="manual__1")
    return [(method, path, body) for method, path, body in api.calls if method != "GET"]


def test_a_due_paused_dag_gets_the_manual_run_as_its_period_then_is_unpaused():
    # The scheduler creates no run for a logical date that has one: the unpause starts nothing more.
    calls = _start(
        {**DUE, "next_dagrun_run_after": "2026-01-02T00:00:00Z"}, [Response(200, {"dag_run_id": "m"})]
    )
    assert calls == [
        (
            "POST",
            "/dags/d/dagRuns",
            {"logical_date": "2026-01-02T00:00:00Z", "conf": {"a": 1}, "dag_run_id": "manual__1"},
        ),
        ("PATCH", "/dags/d", {"is_paused": False}),
    ]


def test_a_period_that_has_a_run_already_gets_a_run_of_no_period():
    taken = Response(409, {"detail": "logical date taken"})
    calls = _start(
        {**DUE, "next_dagrun_run_after": "2026-01-02T00:00:00Z"}, [taken, Response(200, {"dag_run_id": "m"})]
    )
    assert [body["logical_date"] for _, _, body in calls[:2]] == ["2026-01-02T00:00:00Z", None]
    assert calls[2][0] == "PATCH"


def test_a_period_not_due_yet_or_an_active_dag_is_left_to_its_schedule():
    later = {**DUE, "next_dagrun_run_after": "2999-01-01T00:00:00Z"}
    calls = _start(later, [Response(200, {"dag_run_id": "m"})])
    assert calls[0][2]["logical_date"] is None and calls[1][0] == "PATCH"
    active = {**DUE, "is_paused": False, "next_dagrun_run_after": "2026-01-02T00:00:00Z"}
    calls = _start(active, [Response(200, {"dag_run_id": "m"})])
    assert calls == [
        ("POST", "/dags/d/dagRuns", {"logical_date": None, "conf": {"a": 1}, "dag_run_id": "manual__1"})
    ]


def test_a_failed_run_names_the_failed_task_and_its_error(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    run = "/dags/d/dagRuns/r1"
    log = [
        {"event": "starting", "level": "info"},
        {
            "event": "Task failed with exception",
            "level": "error",
            "error_detail": [
                {"exc_type": "DataValidationError", "exc_value": "column 'year': dtype should be int64"}
            ],
        },
        {"event": "done", "level": "info"},
    ]
    client, _ = client_with(
        {
            "GET /dags/d": [Response(200, {"dag_id": "d", "is_paused": False})],
            "POST /dags/d/dagRuns": [Response(200, {"dag_run_id": "r1", "state": "queued"})],
            f"GET {run}": [Response(200, {"dag_run_id": "r1", "state": "failed"})],
            f"GET {run}/taskInstances": [
                Response(
                    200,
                    {
                        "task_instances": [
                            {"task_id": "ingest", "state": "success", "try_number": 1},
                            {"task_id": "validate", "state": "failed", "try_number": 2},
                            {"task_id": "train", "state": "upstream_failed", "try_number": 0},
                        ]
                    },
                )
            ],
            f"GET {run}/taskInstances/validate/logs/2": [
                Response(200, {"content": log, "continuation_token": None})
            ],
        }
    )
    result = client.trigger_and_wait("d", {}, run_id="r1")
    assert result.state == "failed"
    assert result.failures == {"validate": "DataValidationError: column 'year': dtype should be int64"}
    assert (
        result.failure_summary()
        == "task validate failed: DataValidationError: column 'year': dtype should be int64"
    )
    assert result.to_dict()["failures"] == result.failures


def test_an_unreadable_log_still_names_the_task(monkeypatch):
    monkeypatch.setattr("time.sleep", lambda s: None)
    run = "/dags/d/dagRuns/r1"
    client, _ = client_with(
        {
            "GET /dags/d": [Response(200, {"dag_id": "d", "is_paused": False})],
            "POST /dags/d/dagRuns": [Response(200, {"dag_run_id": "r1", "state": "queued"})],
            f"GET {run}": [Response(200, {"dag_run_id": "r1", "state": "failed"})],
            f"GET {run}/taskInstances": [
                Response(200, {"task_instances": [{"task_id": "train", "state": "failed", "try_number": 1}]})
            ],
            f"GET {run}/taskInstances/train/logs/1": [Response(404, {"detail": "log not found"})],
        }
    )
    result = client.trigger_and_wait("d", {}, run_id="r1")
    assert "log could not be read" in result.failures["train"] and "HTTP 404" in result.failures["train"]
