"""Trigger and follow DAG runs through Airflow's REST API v2 (Airflow 3).

    POST {airflow}/auth/token                     {"username", "password"} -> access_token (JWT)
    POST /api/v2/dags/{dag_id}/dagRuns            {"logical_date": null, "conf": {...}}
    PATCH /api/v2/dags/{dag_id}                   {"is_paused": false}     (new DAGs start paused)
    GET  /api/v2/dags/{dag_id}/dagRuns/{run_id}   until state is success or failed
    GET  .../taskInstances, .../{task_id}/logs/{try}   a failed run: which task, which error

Unpausing a scheduled DAG makes the scheduler create the run of the period that is due (with
catchup off it still runs the latest one): a run nobody asked for, which registers a version of
its own and, with max_active_runs=1, delays the manual one. The scheduler creates no run for a
logical date that already has one. So a run triggered on a paused DAG whose period is due takes
that period's logical date, and the DAG is unpaused only once that run exists.

The address and the login come from settings: ``MLSTACK_AIRFLOW_URL``,
``MLSTACK_AIRFLOW_ADMIN_USER`` and ``MLSTACK_AIRFLOW_ADMIN_PASSWORD`` (``.secrets``). The one way
mlstack triggers a DAG and waits for it: ``mlstack airflow trigger``, the stack's ``make trigger``,
Jenkins' Retrain stage, the live tests and the benchmarks all come here.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import requests

from mlstack.config import Settings, load_settings
from mlstack.errors import ConfigError, MlstackError

FINISHED = {"success", "failed"}


_SERVER_ERROR = re.compile(r": HTTP 5\d\d ")  # AirflowApiError of a 5xx answer


class AirflowApiError(MlstackError):
    """The Airflow API refused a request or a run did not finish as expected."""


@dataclass
class RunResult:
    """A finished DAG run: its state, how long it took, and each task's state and timings."""

    dag_id: str
    run_id: str
    state: str
    trigger_to_finish_s: float  # from the POST that created the run to the finished state seen
    queued_to_start_s: float | None = None  # scheduler pickup (from the run's own timestamps)
    run_duration_s: float | None = None  # start_date -> end_date of the run
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)  # task_id -> state, duration, try
    failures: dict[str, str] = field(default_factory=dict)  # failed task_id -> its error, from its log

    def to_dict(self) -> dict[str, Any]:
        """The result as plain JSON-ready data."""
        return {
            "dag_id": self.dag_id,
            "run_id": self.run_id,
            "state": self.state,
            "trigger_to_finish_s": self.trigger_to_finish_s,
            "queued_to_start_s": self.queued_to_start_s,
            "run_duration_s": self.run_duration_s,
            "tasks": self.tasks,
            "failures": self.failures,
        }

    def failure_summary(self) -> str:
        """One line per failed task with its error ("" when no task failed)."""
        return "\n".join(f"task {task} failed: {error}" for task, error in self.failures.items())


class AirflowClient:
    """A small REST v2 client with a cached token (renewed once on 401)."""

    def __init__(self, base_url: str, username: str, password: str, *, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self.username = username
        self.password = password
        self.timeout = timeout
        self.session = requests.Session()
        self._token: str | None = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> AirflowClient:
        """A client for ``MLSTACK_AIRFLOW_URL`` with the admin login; refuses an empty password."""
        settings = settings or load_settings()
        password = settings.airflow_admin_password
        if password is None or not password.get_secret_value():
            raise ConfigError(
                "MLSTACK_AIRFLOW_ADMIN_PASSWORD: not set; put the Airflow admin password in .secrets"
            )
        return cls(settings.airflow_url, settings.airflow_admin_user, password.get_secret_value())

    # -- plumbing ----------------------------------------------------------------------------
    def token(self, *, renew: bool = False) -> str:
        """A JWT from ``/auth/token`` (cached; ``renew`` fetches a new one)."""
        if self._token and not renew:
            return self._token
        response = self.session.post(
            f"{self.base_url}/auth/token",
            json={"username": self.username, "password": self.password},
            timeout=self.timeout,
        )
        if response.status_code not in (200, 201):
            raise AirflowApiError(
                f"login to {self.base_url} as {self.username!r} failed: HTTP {response.status_code} "
                f"{_detail(response)} (check MLSTACK_AIRFLOW_ADMIN_USER/_PASSWORD)"
            )
        self._token = response.json()["access_token"]
        return self._token

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """``method /api/v2<path>`` with the token (renewed once on 401); the JSON body or None."""
        kwargs.setdefault("timeout", self.timeout)
        url = f"{self.base_url}/api/v2{path}"
        for attempt in (1, 2):
            headers = {
                "Authorization": f"Bearer {self.token(renew=attempt == 2)}",
                "Accept": "application/json",
            }
            response = self.session.request(method, url, headers=headers, **kwargs)
            if response.status_code != 401:
                break
        if response.status_code >= 400:
            raise AirflowApiError(f"{method} {path}: HTTP {response.status_code} {_detail(response)}")
        return response.json() if response.content else None

    # -- API ---------------------------------------------------------------------------------
    def health(self) -> dict[str, Any]:
        """``/api/v2/monitor/health`` (no login needed)."""
        response = self.session.get(f"{self.base_url}/api/v2/monitor/health", timeout=self.timeout)
        response.raise_for_status()
        return response.json()

    def get_dag(self, dag_id: str) -> dict[str, Any]:
        """The DAG's details; HTTP 404 (AirflowApiError) until the DAG processor has parsed it."""
        return self.request("GET", f"/dags/{quote(dag_id, safe='')}")

    def wait_for_dag(self, dag_id: str, timeout: float = 180.0) -> dict[str, Any]:
        """Wait until the DAG processor has parsed ``dag_id`` (a fresh install needs a moment)."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                return self.get_dag(dag_id)
            except AirflowApiError as exc:
                if "HTTP 404" not in str(exc):
                    raise
                if time.monotonic() > deadline:
                    try:
                        errors: object = self.import_errors()
                    except (AirflowApiError, requests.RequestException) as listing:
                        errors = f"not listed ({listing})"
                    raise AirflowApiError(
                        f"DAG {dag_id} not found after {timeout:.0f}s; import errors: {errors}"
                    ) from exc
            time.sleep(1.0)

    def import_errors(self) -> list[str]:
        """The DAG files that failed to import, each with the last line of its error."""
        errors = self.request("GET", "/importErrors").get("import_errors", [])
        return [f"{e['filename']}: {(e.get('stack_trace') or '').strip().splitlines()[-1:]}" for e in errors]

    def set_paused(self, dag_id: str, paused: bool) -> dict[str, Any]:
        """Pause or unpause the DAG."""
        return self.request("PATCH", f"/dags/{quote(dag_id, safe='')}", json={"is_paused": paused})

    def trigger(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        logical_date: str | None = None,
    ) -> dict[str, Any]:
        """Create a run now with ``conf`` as its params; returns the run.

        ``logical_date`` null (the default) is a run of no period; a date makes it that period's run."""
        body: dict[str, Any] = {"logical_date": logical_date, "conf": dict(conf or {})}
        if run_id:
            body["dag_run_id"] = run_id
        return self.request("POST", f"/dags/{quote(dag_id, safe='')}/dagRuns", json=body)

    def get_run(self, dag_id: str, run_id: str) -> dict[str, Any]:
        """The run as the API shows it (``state``, ``queued_at``, ``start_date``, ...)."""
        return self.request("GET", f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}")

    def task_instances(self, dag_id: str, run_id: str) -> list[dict[str, Any]]:
        """The run's task instances."""
        path = f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}/taskInstances"
        return self.request("GET", path)["task_instances"]

    def extra_links(self, dag_id: str, run_id: str, task_id: str) -> dict[str, str | None]:
        """The task's extra links (name -> URL), e.g. the plugin's MLflow links."""
        path = (
            f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/links"
        )
        return self.request("GET", path)["extra_links"]

    def xcom(self, dag_id: str, run_id: str, task_id: str, key: str = "return_value") -> Any:
        """One XCom value of a task, deserialized."""
        path = (
            f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/xcomEntries/{quote(key, safe='')}"
        )
        return self.request("GET", path, params={"deserialize": "true"}).get("value")

    def clear_tasks(self, dag_id: str, run_id: str, task_ids: list[str], *, downstream: bool = True) -> list:
        """Clear tasks of a finished run (they run again in the same run, like the UI's Clear)."""
        body = {
            "dry_run": False,
            "dag_run_id": run_id,
            "task_ids": task_ids,
            "include_downstream": downstream,
            "only_failed": False,
            "reset_dag_runs": True,
        }
        return self.request("POST", f"/dags/{quote(dag_id, safe='')}/clearTaskInstances", json=body)[
            "task_instances"
        ]

    def wait(self, dag_id: str, run_id: str, *, timeout: float = 1800.0, interval: float = 0.5) -> dict:
        """Poll the run until it is success or failed; raise on timeout.

        A poll that times out, cannot connect or gets a 5xx (an api-server busy or restarting on a
        loaded host) is tried again until the deadline: the run goes on whether we watch or not."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                run = self.get_run(dag_id, run_id)
            except (requests.Timeout, requests.ConnectionError, AirflowApiError) as exc:
                if isinstance(exc, AirflowApiError) and not _SERVER_ERROR.search(str(exc)):
                    raise
                if time.monotonic() > deadline:
                    raise
                time.sleep(max(interval, 2.0))
                continue
            if run["state"] in FINISHED:
                return run
            if time.monotonic() > deadline:
                raise AirflowApiError(f"run {run_id} of {dag_id} still {run['state']} after {timeout:.0f}s")
            time.sleep(interval)

    def unpause(self, dag_id: str) -> None:
        """Unpause the DAG once it is parsed (new DAGs start paused)."""
        self.wait_for_dag(dag_id)
        self.set_paused(dag_id, False)

    def start_run(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        run_id: str | None = None,
        unpause: bool = True,
    ) -> dict[str, Any]:
        """Trigger the DAG once it is parsed, then unpause it; returns the created run (no wait).

        No scheduled run is started by the unpause (see the module doc)."""
        return self._start(dag_id, self.wait_for_dag(dag_id), conf, run_id=run_id, unpause=unpause)

    def _start(
        self,
        dag_id: str,
        dag: Mapping[str, Any],
        conf: Mapping[str, Any] | None,
        *,
        run_id: str | None,
        unpause: bool,
    ) -> dict[str, Any]:
        paused = dag.get("is_paused") is not False  # unknown counts as paused: unpausing twice is harmless
        due = dag.get("next_dagrun_logical_date") if paused and _due(dag) else None
        try:
            created = self.trigger(dag_id, conf, run_id=run_id, logical_date=due)
        except AirflowApiError as exc:
            if due is None or "HTTP 409" not in str(exc):
                raise
            # that period has a run already: the scheduler will not create another one for it
            created = self.trigger(dag_id, conf, run_id=run_id)
        if unpause and paused:
            self.set_paused(dag_id, False)
        return created

    def task_error(self, dag_id: str, run_id: str, task_id: str, try_number: int) -> str:
        """The error a task attempt failed with, from its log (the exception, else the last error)."""
        path = (
            f"/dags/{quote(dag_id, safe='')}/dagRuns/{quote(run_id, safe='')}"
            f"/taskInstances/{quote(task_id, safe='')}/logs/{max(try_number, 1)}"
        )
        content = self.request("GET", path, params={"full_content": "true"})["content"]
        return _error_of(content)

    def trigger_and_wait(
        self,
        dag_id: str,
        conf: Mapping[str, Any] | None = None,
        *,
        unpause: bool = True,
        timeout: float = 1800.0,
        interval: float = 0.5,
        run_id: str | None = None,
        on_triggered: Callable[[dict[str, Any]], None] | None = None,
    ) -> RunResult:
        """Trigger, unpause, wait; returns the state and the timings of the run and its tasks, and
        for a failed run each failed task's error.

        ``run_id`` names the run (default: Airflow's); ``on_triggered`` is called with the created
        run before the wait (e.g. to say its id).
        """
        dag = self.wait_for_dag(dag_id)
        started = time.monotonic()  # from the POST: waiting for the DAG to be parsed is not the run's time
        created = self._start(dag_id, dag, conf, run_id=run_id, unpause=unpause)
        if on_triggered is not None:
            on_triggered(created)
        run = self.wait(dag_id, created["dag_run_id"], timeout=timeout, interval=interval)
        elapsed = time.monotonic() - started
        result = RunResult(dag_id, run["dag_run_id"], run["state"], elapsed)
        queued, start, end = (_ts(run.get(k)) for k in ("queued_at", "start_date", "end_date"))
        if queued and start:
            result.queued_to_start_s = (start - queued).total_seconds()
        if start and end:
            result.run_duration_s = (end - start).total_seconds()
        for ti in self.task_instances(dag_id, run["dag_run_id"]):
            result.tasks[ti["task_id"]] = {
                "state": ti["state"],
                "duration_s": ti.get("duration"),
                "try_number": ti.get("try_number"),
                "start": ti.get("start_date"),
                "end": ti.get("end_date"),
            }
            if ti["state"] == "failed":
                try:
                    error = self.task_error(
                        dag_id, run["dag_run_id"], ti["task_id"], ti.get("try_number") or 1
                    )
                except (AirflowApiError, requests.RequestException, KeyError, TypeError) as exc:
                    error = f"(its log could not be read: {exc})"
                result.failures[ti["task_id"]] = error
        return result


def _ts(value: str | None) -> datetime | None:
    return datetime.fromisoformat(value.replace("Z", "+00:00")) if value else None


def _due(dag: Mapping[str, Any]) -> bool:
    """Whether the DAG's next scheduled run would be created at once (its time has come)."""
    run_after = _ts(dag.get("next_dagrun_run_after"))
    return run_after is not None and run_after <= datetime.now(UTC)


def _error_of(content: list[Any]) -> str:
    """The error of a task log (Airflow 3 structured lines): the exception of the last line that
    carries one, else the last line at level error, else the log's last line."""
    events = [c for c in content if isinstance(c, dict)]
    for event in reversed(events):
        for exc in event.get("error_detail") or []:
            if isinstance(exc, dict) and exc.get("exc_type"):
                return f"{exc['exc_type']}: {exc.get('exc_value', '')}".strip()
    for event in reversed(events):
        if str(event.get("level", "")).lower() in ("error", "critical"):
            return str(event.get("event", ""))
    lines = [str(c.get("event", "")) if isinstance(c, dict) else str(c) for c in content]
    lines = [line for line in lines if line.strip()]
    return lines[-1] if lines else "(no log)"


def _detail(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    return str(body.get("detail", body))[:500] if isinstance(body, dict) else str(body)[:500]
