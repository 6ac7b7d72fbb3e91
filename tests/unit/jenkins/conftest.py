"""A loopback HTTP server that plays Jenkins, for the tests of `mlstack.jenkins`.

No Jenkins can run here (no jenkins.war is reachable from this machine), so the real
python-jenkins code talks over real HTTP to a small server on 127.0.0.1 that emulates the few
endpoints it calls, with Jenkins' semantics: basic auth with an API token, the CSRF crumb
(``crumbIssuer/api/json`` + ``Jenkins-Crumb`` header on POST), ``job/<name>/build`` answering 201
with a ``Location: .../queue/item/<n>/`` header, queue items that wait (``why``), get an
``executable`` or are ``cancelled``, the console read in pieces from ``logText/progressiveText``
(``X-Text-Size`` = next byte offset, ``X-More-Data: true`` while the build runs), build info
(``building``/``result``/``duration``), ``queue/cancelItem`` and ``<build>/stop``.
The server records every call; the tests assert the calls and what the client returns.
"""

from __future__ import annotations

import base64
import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlstack.jenkins.client import JenkinsClient

USER = "ci-bot"
TOKEN = "11a5e3c0ffee0123456789abcdef012345"  # an API-token-shaped test value
CRUMB = "c0ffee-crumb"
POLL = 0.01


@dataclass
class Call:
    method: str
    path: str
    query: dict[str, list[str]]
    user: str | None
    crumb: str | None


@dataclass
class Scenario:
    """What the fake Jenkins answers. Lists are served in order; the last entry repeats."""

    queue_states: list[dict[str, Any]] = field(
        default_factory=lambda: [{"why": "Waiting for next available executor"}, {"run": True}]
    )
    build_number: int = 7
    log_chunks: list[bytes] = field(default_factory=lambda: [b"Started\n", b"Finished\n"])
    result: str = "SUCCESS"
    duration_ms: int = 4200
    never_finishes: bool = False  # the build keeps running (X-More-Data: true forever)
    delay_s: float = 0.0  # every answer is this late
    jobs: tuple[str, ...] = ("mlstack", "team/mlstack")
    parameterized: bool = False  # the job has parameters: a plain /build is refused with 400


class FakeJenkins:
    def __init__(self, scenario: Scenario) -> None:
        self.scenario = scenario
        self.calls: list[Call] = []
        self.lock = threading.Lock()
        self.queue_polls = 0
        self.revealed = 0  # log chunks made visible so far
        self.stopped = False
        self.cancelled = False
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)

    # -- state ---------------------------------------------------------------------------

    @property
    def log(self) -> bytes:
        return b"".join(self.scenario.log_chunks[: self.revealed])

    @property
    def building(self) -> bool:
        if self.stopped:
            return False
        return self.scenario.never_finishes or self.revealed < len(self.scenario.log_chunks)

    def paths(self, method: str | None = None) -> list[str]:
        return [c.path for c in self.calls if method is None or c.method == method]

    def progressive_starts(self) -> list[int]:
        return [int(c.query["start"][0]) for c in self.calls if c.path.endswith("/progressiveText")]


def _handler(fake: FakeJenkins) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:  # quiet
            pass

        def _user(self) -> str | None:
            header = self.headers.get("Authorization", "")
            if not header.startswith("Basic "):
                return None
            user, _, token = base64.b64decode(header[6:]).decode().partition(":")
            return user if (user, token) == (USER, TOKEN) else f"!{user}"

        def _send(self, status: int, body: bytes = b"", headers: dict[str, str] | None = None):
            self.send_response(status)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _json(self, data: Any) -> None:
            self._send(200, json.dumps(data).encode(), {"Content-Type": "application/json"})

        def _route(self, method: str) -> None:
            parts = urlsplit(self.path)
            query = parse_qs(parts.query)
            user = self._user()
            with fake.lock:
                fake.calls.append(Call(method, parts.path, query, user, self.headers.get("Jenkins-Crumb")))
            if fake.scenario.delay_s:
                time.sleep(fake.scenario.delay_s)
            if user is None or user.startswith("!"):
                self._send(401, b"Unauthorized", {"WWW-Authenticate": 'Basic realm="Jenkins"'})
                return
            if method == "POST" and self.headers.get("Jenkins-Crumb") != CRUMB:
                self._send(403, b"No valid crumb was included in the request")
                return
            self._dispatch(method, parts.path, query)

        def _dispatch(self, method: str, path: str, query: dict[str, list[str]]) -> None:
            sc = fake.scenario
            job_paths = {"/" + "/".join(f"job/{p}" for p in j.split("/")): j for j in sc.jobs}
            number = sc.build_number
            if method == "GET" and path == "/crumbIssuer/api/json":
                self._json({"crumbRequestField": "Jenkins-Crumb", "crumb": CRUMB})
                return
            for job_path in job_paths:
                if method == "POST" and path == f"{job_path}/build" and sc.parameterized:
                    self._send(400, b"Nothing is submitted")
                    return
                if method == "POST" and path in {f"{job_path}/build", f"{job_path}/buildWithParameters"}:
                    location = f"{fake.url}queue/item/1/"
                    self._send(201, b"", {"Location": location})
                    return
                if method == "GET" and path == f"{job_path}/{number}/logText/progressiveText":
                    with fake.lock:
                        fake.revealed = min(fake.revealed + 1, len(sc.log_chunks))
                        log, building = fake.log, fake.building
                    start = int(query.get("start", ["0"])[0])
                    headers = {"Content-Type": "text/plain;charset=UTF-8", "X-Text-Size": str(len(log))}
                    if building:
                        headers["X-More-Data"] = "true"
                    self._send(200, log[start:], headers)
                    return
                if method == "GET" and path == f"{job_path}/{number}/api/json":
                    with fake.lock:  # time passes for a build nobody watches too
                        fake.revealed = min(fake.revealed + 1, len(sc.log_chunks))
                        building = fake.building
                    self._json(
                        {
                            "number": number,
                            "url": f"{fake.url}{job_path.lstrip('/')}/{number}/",
                            "building": building,
                            "result": None if building else ("ABORTED" if fake.stopped else sc.result),
                            "duration": 0 if building else sc.duration_ms,
                        }
                    )
                    return
                if method == "GET" and path == f"{job_path}/{number}/":  # the build's page
                    self._send(200, b"<html>build</html>", {"Content-Type": "text/html"})
                    return
                if method == "POST" and path == f"{job_path}/{number}/stop":
                    fake.stopped = True
                    self._send(302, b"", {"Location": f"{fake.url}{job_path.lstrip('/')}/{number}/"})
                    return
            if method == "GET" and path == "/queue/item/1/api/json":
                with fake.lock:
                    state = sc.queue_states[min(fake.queue_polls, len(sc.queue_states) - 1)]
                    fake.queue_polls += 1
                self._json(self._queue_item(state))
                return
            if method == "POST" and path == "/queue/cancelItem":
                fake.cancelled = True
                self._send(204)
                return
            self._send(404, b"Not Found")

        def _queue_item(self, state: dict[str, Any]) -> dict[str, Any]:
            if fake.cancelled or state.get("cancelled"):
                return {
                    "_class": "hudson.model.Queue$LeftItem",
                    "id": 1,
                    "cancelled": True,
                    "executable": None,
                }
            if state.get("run"):
                job = fake.scenario.jobs[0]
                return {
                    "_class": "hudson.model.Queue$LeftItem",
                    "id": 1,
                    "cancelled": False,
                    "executable": {
                        "_class": "org.jenkinsci.plugins.workflow.job.WorkflowRun",
                        "number": fake.scenario.build_number,
                        "url": f"{fake.url}job/{job}/{fake.scenario.build_number}/",
                    },
                }
            return {
                "_class": "hudson.model.Queue$WaitingItem",
                "id": 1,
                "blocked": False,
                "buildable": False,
                "why": state.get("why"),
            }

        def do_GET(self) -> None:
            self._route("GET")

        def do_POST(self) -> None:
            self._route("POST")

    return Handler


@pytest.fixture
def fake_jenkins(request: pytest.FixtureRequest) -> Iterator[FakeJenkins]:
    scenario = getattr(request, "param", None) or Scenario()
    fake = FakeJenkins(scenario)
    fake.thread.start()
    yield fake
    fake.httpd.shutdown()
    fake.httpd.server_close()
    fake.thread.join(timeout=5)
    assert not fake.thread.is_alive()


def client_for(fake: FakeJenkins, **kwargs: Any) -> JenkinsClient:
    kwargs.setdefault("poll_interval", POLL)
    kwargs.setdefault("request_timeout", 5.0)
    return JenkinsClient(fake.url, USER, TOKEN, **kwargs)
