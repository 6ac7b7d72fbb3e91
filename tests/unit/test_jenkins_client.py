"""mlstack.jenkins_client against a loopback HTTP server that plays Jenkins.

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
import io
import json
import os
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from mlstack import jenkins_client as jc

USER = "ci-bot"
TOKEN = "11a5e3c0ffee0123456789abcdef012345"  # an API-token-shaped test value
CRUMB = "c0ffee-crumb"
POLL = 0.01

pytestmark = pytest.mark.timeout(60)


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


def client_for(fake: FakeJenkins, **kwargs: Any) -> jc.JenkinsClient:
    kwargs.setdefault("poll_interval", POLL)
    kwargs.setdefault("request_timeout", 5.0)
    return jc.JenkinsClient(fake.url, USER, TOKEN, **kwargs)


# -- the whole path ------------------------------------------------------------------------

SNOWMAN = "unicode ☃ ✓\n".encode()
LOG = [
    b"Started by remote API\n",
    b"[Pipeline] sh\n+ make setup\n",
    SNOWMAN[:9],
    SNOWMAN[9:],
    b"Finished: SUCCESS\n",
]


@pytest.mark.parametrize(
    "fake_jenkins",
    [
        Scenario(
            queue_states=[{"why": "In the quiet period"}, {"why": "Waiting for executor"}, {"run": True}],
            log_chunks=LOG,
        )
    ],
    indirect=True,
)
def test_build_follows_queue_streams_console_and_returns_success(fake_jenkins: FakeJenkins):
    out = io.StringIO()
    lines: list[str] = []
    outcome = client_for(fake_jenkins).build("mlstack", out=out, status=lines.append, timeout=30)

    assert outcome == jc.BuildResult(
        job="mlstack",
        queue_id=1,
        number=7,
        url=f"{fake_jenkins.url}job/mlstack/7/",
        result="SUCCESS",
        duration_s=4.2,
    )
    assert outcome.succeeded and outcome.exit_code == jc.EXIT_SUCCESS
    # The console arrives whole and decoded, even with a character split across two reads.
    assert out.getvalue() == b"".join(LOG).decode()
    assert "queued: In the quiet period" in lines and "queued: Waiting for executor" in lines

    calls = fake_jenkins.calls
    assert calls[0].method == "GET" and calls[0].path == "/crumbIssuer/api/json"
    assert [(c.method, c.path) for c in calls[1:2]] == [("POST", "/job/mlstack/build")]
    assert calls[1].crumb == CRUMB
    assert all(c.user == USER for c in calls), "every request carries the API token"
    assert fake_jenkins.paths("GET").count("/queue/item/1/api/json") == 3
    # Each read starts where the previous one ended (X-Text-Size), until X-More-Data stops.
    sizes = [0]
    for chunk in LOG[:-1]:
        sizes.append(sizes[-1] + len(chunk))
    assert fake_jenkins.progressive_starts() == sizes
    assert fake_jenkins.paths()[-1] == "/job/mlstack/7/api/json"
    assert not fake_jenkins.stopped and not fake_jenkins.cancelled


@pytest.mark.parametrize("fake_jenkins", [Scenario(result="FAILURE")], indirect=True)
def test_failed_build_is_returned_as_failure(fake_jenkins: FakeJenkins):
    outcome = client_for(fake_jenkins).build("mlstack", out=io.StringIO(), timeout=30)
    assert outcome.result == "FAILURE"
    assert not outcome.succeeded and outcome.exit_code == jc.EXIT_FAILED
    assert fake_jenkins.paths()[-1] == "/job/mlstack/7/api/json"


@pytest.mark.parametrize(
    "fake_jenkins", [Scenario(jobs=("team/mlstack",), queue_states=[{"run": True}])], indirect=True
)
def test_parameters_and_folder_jobs_use_build_with_parameters(fake_jenkins: FakeJenkins):
    outcome = client_for(fake_jenkins).build("team/mlstack", {"DRIFT": "1"}, out=None, timeout=30)
    assert outcome.result == "SUCCESS"
    post = [c for c in fake_jenkins.calls if c.method == "POST"]
    assert [c.path for c in post] == ["/job/team/job/mlstack/buildWithParameters"]
    assert post[0].query == {"DRIFT": ["1"]}
    # out=None: the console is not read at all, only the build's result.
    assert fake_jenkins.progressive_starts() == []


@pytest.mark.parametrize("fake_jenkins", [Scenario(parameterized=True)], indirect=True)
def test_parameterized_job_without_parameters_takes_the_defaults(fake_jenkins: FakeJenkins):
    outcome = client_for(fake_jenkins).build("mlstack", out=io.StringIO(), timeout=30)
    assert outcome.result == "SUCCESS"
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build", "/job/mlstack/buildWithParameters"]
    assert all(c.crumb == CRUMB for c in fake_jenkins.calls if c.method == "POST")


@pytest.mark.parametrize(
    "fake_jenkins",
    [Scenario(queue_states=[{"why": "Waiting for next available executor"}, {"cancelled": True}])],
    indirect=True,
)
def test_cancelled_queue_item_raises_and_reads_no_build(fake_jenkins: FakeJenkins):
    with pytest.raises(jc.QueueItemCancelled, match="queue item 1 of job 'mlstack' was cancelled"):
        client_for(fake_jenkins).build("mlstack", out=io.StringIO())
    assert fake_jenkins.paths("GET").count("/queue/item/1/api/json") == 2
    assert not any("/7/" in p for p in fake_jenkins.paths()), "no build was read"


@pytest.mark.parametrize(
    "fake_jenkins",
    [Scenario(queue_states=[{"why": "Waiting for next available executor"}])],
    indirect=True,
)
@pytest.mark.parametrize("abort", [False, True])
def test_timeout_while_queued(fake_jenkins: FakeJenkins, abort: bool):
    started = time.monotonic()
    with pytest.raises(jc.JenkinsTimeout, match=r"got no build within 0\.3s") as info:
        client_for(fake_jenkins).build("mlstack", out=io.StringIO(), timeout=0.3, abort_on_timeout=abort)
    assert 0.3 <= time.monotonic() - started < 5
    assert info.value.queue_id == 1 and info.value.number is None
    assert "Waiting for next available executor" in str(info.value)
    assert ("/queue/cancelItem" in fake_jenkins.paths("POST")) is abort
    if abort:
        cancel = next(c for c in fake_jenkins.calls if c.path == "/queue/cancelItem")
        assert cancel.query == {"id": ["1"]}


@pytest.mark.parametrize(
    "fake_jenkins", [Scenario(queue_states=[{"run": True}], never_finishes=True)], indirect=True
)
@pytest.mark.parametrize("abort", [False, True])
def test_timeout_while_building(fake_jenkins: FakeJenkins, abort: bool):
    out = io.StringIO()
    with pytest.raises(jc.JenkinsTimeout, match="'mlstack' #7 still running after") as info:
        client_for(fake_jenkins).build("mlstack", out=out, timeout=0.4, abort_on_timeout=abort)
    assert (info.value.queue_id, info.value.number) == (1, 7)
    assert info.value.url == f"{fake_jenkins.url}job/mlstack/7/"
    assert out.getvalue() == "Started\nFinished\n"  # what was logged so far was streamed
    assert len(fake_jenkins.progressive_starts()) > 2  # it kept polling until the deadline
    assert ("/job/mlstack/7/stop" in fake_jenkins.paths("POST")) is abort


# -- errors --------------------------------------------------------------------------------


def test_wrong_token_is_a_clear_error_without_the_token(fake_jenkins: FakeJenkins):
    client = jc.JenkinsClient(fake_jenkins.url, USER, "wrong-token-value", poll_interval=POLL)
    with pytest.raises(jc.JenkinsError) as info:
        client.build("mlstack")
    message = str(info.value)
    assert "refused 'ci-bot'" in message and "MLSTACK_JENKINS_TOKEN" in message
    assert "wrong-token-value" not in message
    assert fake_jenkins.paths("POST") == []  # the crumb request failed first


def test_unknown_job_is_not_found(fake_jenkins: FakeJenkins):
    with pytest.raises(jc.JenkinsError, match="trigger job 'nope': not found"):
        client_for(fake_jenkins).build("nope")
    assert fake_jenkins.paths("POST") == ["/job/nope/build"]


def test_unreachable_jenkins():
    # A port that was free a moment ago: nothing listens there.
    fake = FakeJenkins(Scenario())
    url = fake.url
    fake.httpd.server_close()
    client = jc.JenkinsClient(url, USER, TOKEN, request_timeout=2.0)
    with pytest.raises(jc.JenkinsError, match="cannot reach Jenkins at"):
        client.trigger("mlstack")


@pytest.mark.parametrize("fake_jenkins", [Scenario(delay_s=1.0)], indirect=True)
def test_slow_answers_hit_the_request_timeout(fake_jenkins: FakeJenkins):
    client = client_for(fake_jenkins, request_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(jc.JenkinsError, match=r"did not answer within 0\.2s"):
        client.trigger("mlstack")
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize(
    ("url", "user", "token", "message"),
    [
        ("", None, None, "must be http"),
        ("ftp://jenkins", None, None, "must be http"),
        ("http://127.0.0.1:8081", "ci-bot", None, "both a Jenkins user and an API token"),
    ],
)
def test_bad_settings(url: str, user: str | None, token: str | None, message: str):
    with pytest.raises(jc.JenkinsError, match=message):
        jc.JenkinsClient(url, user, token)


def test_from_env_needs_the_url():
    with pytest.raises(jc.JenkinsError, match="MLSTACK_JENKINS_URL is not set"):
        jc.JenkinsClient.from_env({})
    client = jc.JenkinsClient.from_env(
        {jc.ENV_URL: "http://127.0.0.1:8081", jc.ENV_USER: USER, jc.ENV_TOKEN: TOKEN}
    )
    assert client.url == "http://127.0.0.1:8081/" and client.user == USER


# -- the command line (what the git hook runs) ---------------------------------------------


@pytest.mark.parametrize(
    ("fake_jenkins", "code"),
    [
        (Scenario(result="SUCCESS"), jc.EXIT_SUCCESS),
        (Scenario(result="UNSTABLE"), jc.EXIT_UNSTABLE),
        (Scenario(result="FAILURE"), jc.EXIT_FAILED),
        (Scenario(queue_states=[{"cancelled": True}]), jc.EXIT_FAILED),
    ],
    indirect=["fake_jenkins"],
)
def test_cli_exit_code_follows_the_result(
    fake_jenkins: FakeJenkins, code: int, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    secrets = tmp_path / ".secrets"
    secrets.write_text(f"{jc.ENV_URL}={fake_jenkins.url}\n{jc.ENV_USER}={USER}\n{jc.ENV_TOKEN}={TOKEN}\n")
    argv = ["build", "mlstack", "--poll-interval", "0.01", "--env-file", str(secrets)]
    assert jc.main(argv, environ={}) == code
    captured = capsys.readouterr()
    if code != jc.EXIT_FAILED or fake_jenkins.scenario.queue_states[0].get("run"):
        assert captured.out == "Started\nFinished\n"
        assert f"mlstack #7: {fake_jenkins.scenario.result}" in captured.err
    assert TOKEN not in captured.out + captured.err
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build"]


@pytest.mark.parametrize("fake_jenkins", [Scenario(never_finishes=True)], indirect=True)
def test_cli_timeout_exit_code(fake_jenkins: FakeJenkins, capsys: pytest.CaptureFixture[str]):
    env = {jc.ENV_URL: fake_jenkins.url, jc.ENV_USER: USER, jc.ENV_TOKEN: TOKEN}
    argv = [
        "build",
        "--timeout",
        "0.3",
        "--poll-interval",
        "0.01",
        "--abort-on-timeout",
        "--quiet",
        "--env-file",
        "/nonexistent",
    ]
    assert jc.main(argv, environ=env) == jc.EXIT_TIMEOUT
    err = capsys.readouterr().err
    assert "timeout:" in err and "aborted build #7" in err
    assert "/job/mlstack/7/stop" in fake_jenkins.paths("POST")


def test_cli_without_settings_is_an_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    argv = ["build", "--env-file", str(tmp_path / "missing")]
    assert jc.main(argv, environ={}) == jc.EXIT_ERROR
    assert "MLSTACK_JENKINS_URL is not set" in capsys.readouterr().err


# -- the git hook: make jenkins-hook, then commits ------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _run(cmd: list[str], cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=60)


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("MLSTACK_JENKINS", "MAKE", "MFLAGS"))}
    identity = {"GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com"}
    env.update(identity, GIT_COMMITTER_NAME="t", GIT_COMMITTER_EMAIL="t@example.com", **extra)
    return env


@pytest.fixture
def hooked_repo(tmp_path: Path) -> Iterator[Path]:
    """A fresh repository on main with an older hook, then ``make jenkins-hook`` run on it."""
    repo = tmp_path / "repo"
    repo.mkdir()
    assert _run(["git", "init", "-q", "-b", "main"], repo).returncode == 0
    hooks = repo / ".git" / "hooks"
    (hooks / "post-commit").write_text("#!/bin/sh\necho older hook\n")
    make = ["make", "--no-print-directory", f"HOOKS_DIR={hooks}"]
    proc = _run([*make, "jenkins-hook"], ROOT, _clean_env())
    assert proc.returncode == 0, proc.stderr
    installed = hooks / "post-commit"
    assert installed.read_bytes() == (ROOT / "scripts/git-hooks/post-commit").read_bytes()
    assert os.access(installed, os.X_OK)
    assert (hooks / "post-commit.before-mlstack").read_text().endswith("older hook\n")
    yield repo
    proc = _run([*make, "jenkins-hook-uninstall"], ROOT, _clean_env())
    assert proc.returncode == 0 and not installed.exists(), proc.stdout + proc.stderr


def _commit(repo: Path, env: dict[str, str], name: str = "f") -> subprocess.CompletedProcess:
    (repo / name).write_text(name)
    assert _run(["git", "add", name], repo, env).returncode == 0
    return _run(["git", "commit", "-q", "-m", name], repo, env)


ONE_STEP = Scenario(queue_states=[{"run": True}], log_chunks=[b"Built by the hook\n"])


@pytest.mark.parametrize("fake_jenkins", [ONE_STEP], indirect=True)
def test_post_commit_hook_builds_commits_on_main(fake_jenkins: FakeJenkins, hooked_repo: Path):
    jenkins_env = {jc.ENV_URL: fake_jenkins.url, jc.ENV_USER: USER, jc.ENV_TOKEN: TOKEN}
    env = _clean_env(MLSTACK_JENKINS_HOOK="follow", MLSTACK_PYTHON=sys.executable, **jenkins_env)

    proc = _commit(hooked_repo, env, "one")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr  # git hands the hook's stdout to stderr
    assert "Built by the hook" in out  # the console, streamed by the hook
    assert "mlstack #7: SUCCESS" in out and "finished with exit code 0" in out
    assert TOKEN not in out
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build"]

    # Not on main, hook switched off, or no Jenkins configured: no build is requested.
    assert _run(["git", "checkout", "-q", "-b", "feature"], hooked_repo, env).returncode == 0
    assert _commit(hooked_repo, env, "two").returncode == 0
    assert _run(["git", "checkout", "-q", "main"], hooked_repo, env).returncode == 0
    assert _commit(hooked_repo, {**env, "MLSTACK_JENKINS_HOOK": "off"}, "three").returncode == 0
    no_url = {k: v for k, v in env.items() if k != jc.ENV_URL}
    proc = _commit(hooked_repo, no_url, "four")
    assert proc.returncode == 0 and proc.stdout + proc.stderr == ""
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build"]


@pytest.mark.parametrize("fake_jenkins", [ONE_STEP], indirect=True)
def test_post_commit_hook_in_the_background_logs_the_build(
    fake_jenkins: FakeJenkins, hooked_repo: Path, tmp_path: Path
):
    # Settings from the work tree's .secrets, as a developer would keep them.
    (hooked_repo / ".secrets").write_text(
        f"{jc.ENV_URL}={fake_jenkins.url}\n{jc.ENV_USER}={USER}\n{jc.ENV_TOKEN}={TOKEN}\n"
    )
    (hooked_repo / ".git" / "info" / "exclude").write_text(".secrets\n")
    home = tmp_path / "home"
    env = _clean_env(MLSTACK_PYTHON=sys.executable, MLSTACK_HOME=str(home))
    proc = _commit(hooked_repo, env, "one")
    assert proc.returncode == 0, proc.stderr
    log = home / "logs" / "jenkins-post-commit.log"
    assert f"follow it with: tail -f {log}" in proc.stdout + proc.stderr
    deadline = time.monotonic() + 30
    while "=== exit code" not in (log.read_text() if log.exists() else ""):
        assert time.monotonic() < deadline, "the background build never finished"
        time.sleep(0.1)
    text = log.read_text()
    assert "Built by the hook" in text and "=== exit code 0" in text
    assert TOKEN not in text
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build"]
