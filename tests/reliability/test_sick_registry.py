"""Serving under a sick registry (issue 15 §6), against a real MLflow server.

A small HTTP proxy in front of the real server (Postgres backend, S3 artifacts) passes requests
through, or makes the registry sick the way a failing backend store does: `/health` still says
OK while every API call answers 503, or API calls hang. The model server keeps serving the
loaded model (flagged stale, the error names the HTTP status), never holds a lock while MLflow
is called, and a cold start fails at once with a named error.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from devstack.ports import LOOPBACK
from mlstack.config import Settings, load_settings
from mlstack.data.spec import load_spec
from mlstack.errors import RegistryError
from mlstack.serving.loader import ModelServer
from tests.app.support import train
from tests.support.rows import GOOD_ROW

pytestmark = [pytest.mark.reliability, pytest.mark.integration]

MODEL = "sick-registry-penguins"
HOP_BY_HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "content-encoding"}


@dataclass
class SickProxy:
    """`mode`: "pass" forwards everything; "5xx" answers 503 to all but /health; "hang" waits
    `hang_seconds` before forwarding an API call."""

    upstream: str
    mode: str = "pass"
    hang_seconds: float = 4.0
    url: str = ""
    api_calls: int = 0


@pytest.fixture(scope="module")
def proxy(mlflow_server) -> Iterator[SickProxy]:
    state = SickProxy(mlflow_server.tracking_uri.rstrip("/"))

    class Handler(BaseHTTPRequestHandler):
        def log_message(self, fmt: str, *args) -> None:
            pass

        def _handle(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length) if length else None
            if not self.path.startswith("/health"):
                state.api_calls += 1
                if state.mode == "5xx":
                    return self._answer(503, b'{"error_code": "TEMPORARILY_UNAVAILABLE"}')
                if state.mode == "hang":
                    time.sleep(state.hang_seconds)
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP}
            answer = requests.request(
                self.command, state.upstream + self.path, data=body, headers=headers, timeout=120
            )
            self._answer(answer.status_code, answer.content, answer.headers.get("Content-Type"))

        def _answer(self, code: int, data: bytes, ctype: str | None = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype or "application/octet-stream")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PUT = do_PATCH = do_DELETE = _handle

    server = ThreadingHTTPServer((LOOPBACK, 0), Handler)
    server.daemon_threads = True
    state.url = f"http://{LOOPBACK}:{server.server_address[1]}"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield state
    server.shutdown()
    server.server_close()


@pytest.fixture(scope="module")
def trained(proxy, tmp_path_factory) -> Iterator[Settings]:
    """MODEL v1 as @champion, trained through the proxy; settings that refresh on every call."""
    tmp_path = tmp_path_factory.mktemp("sick-registry")
    with pytest.MonkeyPatch.context() as monkeypatch:
        monkeypatch.chdir(tmp_path)  # no .env/.secrets of the checkout
        for var in ("MLFLOW_TRACKING_USERNAME", "MLFLOW_TRACKING_PASSWORD"):
            monkeypatch.delenv(var, raising=False)
        home = tmp_path / "home"
        summary = train(
            home,
            tracking_uri=proxy.url,
            model_name=MODEL,
            experiment=MODEL,
            prediction_log_url=None,
            data_root=None,
        )
        assert summary["gate"]["verdict"] == "promoted", summary["gate"]
        yield load_settings(
            home=home, tracking_uri=proxy.url, model_name=MODEL, experiment=MODEL, alias_refresh_seconds=0
        )


@pytest.fixture(autouse=True)
def healthy_again(proxy) -> Iterator[None]:
    proxy.mode = "pass"
    yield
    proxy.mode = "pass"


def test_a_registry_answering_5xx_leaves_the_loaded_model_serving(proxy, trained):
    spec = load_spec("penguins")
    server = ModelServer(trained, spec)
    first = server.current()
    assert not server.stale
    champion = first.version

    proxy.mode = "5xx"
    started = time.monotonic()
    served = server.current()
    assert time.monotonic() - started < 10, "the refresh waited on MLflow's retries"
    assert served is first and server.stale and not server.refused
    assert "HTTP 503" in (server.last_error or "") and proxy.url in (server.last_error or "")
    prediction = server.predict(GOOD_ROW)
    assert prediction.version == champion and prediction.stale

    # A cold start under the same sickness: a named error, at once.
    started = time.monotonic()
    with pytest.raises(RegistryError, match=rf"cannot load {MODEL}@champion: .*HTTP 503"):
        ModelServer(trained, spec).current()
    assert time.monotonic() - started < 10

    proxy.mode = "pass"
    assert server.current().version == champion and not server.stale and server.last_error is None


def test_no_caller_waits_for_a_refresh_in_flight(proxy, trained):
    spec = load_spec("penguins")
    server = ModelServer(trained, spec)
    loaded = server.current()
    proxy.mode, proxy.hang_seconds = "hang", 4.0

    refresher = threading.Thread(target=server.current)
    refresher.start()
    deadline = time.monotonic() + 5
    while proxy.api_calls == 0 and time.monotonic() < deadline:
        time.sleep(0.05)
    calls_before = proxy.api_calls
    assert calls_before > 0 and refresher.is_alive(), "the refresh did not reach the registry"
    waits = []
    for _ in range(5):  # other sessions while the refresh hangs on MLflow
        started = time.monotonic()
        assert server.current() is loaded
        assert server.predict(GOOD_ROW).version == loaded.version
        waits.append(time.monotonic() - started)
    assert max(waits) < 0.5, f"callers waited on the refresh in flight: {waits}"
    assert refresher.is_alive()
    refresher.join(30)
    assert not refresher.is_alive()
    assert server.stale and "unreachable" in (server.last_error or ""), server.last_error
