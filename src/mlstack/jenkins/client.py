"""A thin, typed layer over python-jenkins: settings, request timeouts, readable errors.

One method per Jenkins endpoint the build follower (`mlstack.jenkins.build`) needs; each turns
python-jenkins' and requests' exceptions into a JenkinsError that says what was being done.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote, urlsplit

import jenkins
import requests

from mlstack.jenkins.errors import JenkinsError

ENV_URL = "MLSTACK_JENKINS_URL"
ENV_USER = "MLSTACK_JENKINS_USER"
ENV_TOKEN = "MLSTACK_JENKINS_TOKEN"  # noqa: S105 - the variable's name, not a secret

T = TypeVar("T")


def job_path(job: str) -> str:
    """``folder/name`` -> ``job/folder/job/name`` (each part URL-quoted)."""
    parts = [part for part in job.split("/") if part]
    if not parts:
        raise JenkinsError("job name is empty")
    return "/".join(f"job/{quote(part, safe='')}" for part in parts)


def environment(env_files: Sequence[Path], environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The Jenkins variables from dotenv files (later files win), under the non-empty environment."""
    from dotenv import dotenv_values

    found: dict[str, str] = {}
    for path in env_files:
        if path.is_file():
            for key, value in dotenv_values(path).items():
                if key in {ENV_URL, ENV_USER, ENV_TOKEN} and value:
                    found[key] = value
    found.update({k: v for k, v in (os.environ if environ is None else environ).items() if v})
    return found


class JenkinsClient:
    """python-jenkins with timeouts and readable errors.

    ``request_timeout`` bounds each HTTP request; the build follower's ``timeout`` arguments
    bound whole waits. ``poll_interval`` is the pause between two polls of the queue, the log
    or the build (``pause()``); ``clock`` and ``sleep`` are injectable for tests.
    """

    def __init__(
        self,
        url: str,
        user: str | None = None,
        token: str | None = None,
        *,
        request_timeout: float = 30.0,
        poll_interval: float = 2.0,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        url = (url or "").strip()
        parts = urlsplit(url)
        if parts.scheme not in {"http", "https"} or not parts.netloc:
            raise JenkinsError(
                f"Jenkins URL must be http(s)://host[:port][/path], got {url!r} (set {ENV_URL})"
            )
        if bool(user) != bool(token):
            raise JenkinsError(
                f"give both a Jenkins user and an API token, or neither ({ENV_USER}, {ENV_TOKEN})"
            )
        if request_timeout <= 0 or poll_interval < 0:
            raise JenkinsError("request_timeout must be > 0 and poll_interval >= 0")
        self.url = url if url.endswith("/") else url + "/"
        self.user = user or None
        self.request_timeout = request_timeout
        self.poll_interval = poll_interval
        self.clock = clock
        self._sleep = sleep
        self._server = jenkins.Jenkins(
            self.url, username=self.user, password=token or None, timeout=request_timeout
        )

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **kwargs: Any) -> JenkinsClient:
        """Build a client from MLSTACK_JENKINS_URL / _USER / _TOKEN."""
        env = os.environ if environ is None else environ
        url = env.get(ENV_URL, "").strip()
        if not url:
            raise JenkinsError(f"{ENV_URL} is not set (e.g. http://127.0.0.1:8081)")
        return cls(url, env.get(ENV_USER) or None, env.get(ENV_TOKEN) or None, **kwargs)

    def pause(self) -> None:
        """Wait one poll interval."""
        self._sleep(self.poll_interval)

    # -- error handling ------------------------------------------------------------------

    def _call(self, what: str, func: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one python-jenkins call; turn its exceptions into JenkinsError with context."""
        try:
            return func(*args, **kwargs)
        except jenkins.TimeoutException as exc:
            raise JenkinsError(
                f"{what}: Jenkins at {self.url} did not answer within {self.request_timeout:g}s"
            ) from exc
        except jenkins.NotFoundException as exc:
            raise JenkinsError(f"{what}: not found on {self.url}") from exc
        except jenkins.JenkinsException as exc:
            text = str(exc)
            if "[401]" in text or "[403]" in text:
                who = self.user or "anonymous"
                raise JenkinsError(
                    f"{what}: Jenkins refused {who!r} ({text.splitlines()[0]}); "
                    f"check {ENV_USER} and {ENV_TOKEN} (an API token from /me/configure)"
                ) from exc
            raise JenkinsError(f"{what}: {text.splitlines()[0] if text else exc!r}") from exc
        except requests.exceptions.ConnectionError as exc:
            raise JenkinsError(f"{what}: cannot reach Jenkins at {self.url} ({exc})") from exc
        except requests.exceptions.RequestException as exc:
            raise JenkinsError(f"{what}: HTTP error from {self.url} ({exc})") from exc
        except ValueError as exc:  # JSON that does not parse
            raise JenkinsError(f"{what}: unexpected answer from {self.url} ({exc})") from exc

    # -- the endpoints -------------------------------------------------------------------

    def trigger(self, job: str, parameters: Mapping[str, str] | None = None) -> int:
        """Ask Jenkins for a build of ``job``; return the queue item number.

        A job with parameters (the Jenkinsfile declares some) refuses a plain ``build`` with
        400 "Nothing is submitted"; it is then asked for ``buildWithParameters``, which takes
        each parameter's default.
        """
        path = job_path(job)  # validates the name
        what = f"trigger job {job!r}"
        if parameters:
            return self._call(what, self._server.build_job, job, dict(parameters))
        try:
            return self._call(what, self._server.build_job, job)
        except JenkinsError as exc:
            cause = exc.__cause__
            refusal = cause.response if isinstance(cause, requests.HTTPError) else None
            if refusal is None or refusal.status_code != 400:
                raise
        response = self._call(
            what,
            self._server.jenkins_request,
            requests.Request("POST", f"{self.url}{path}/buildWithParameters"),
        )
        location = response.headers.get("Location", "").rstrip("/")
        try:
            return int(location.rsplit("/", 1)[-1])
        except ValueError as exc:
            raise JenkinsError(f"{what}: no queue item in the answer (Location {location!r})") from exc

    def queue_item(self, queue_id: int) -> dict[str, Any]:
        """Queue item ``queue_id`` as Jenkins describes it (``why``, ``executable``, ``cancelled``)."""
        return self._call(f"read queue item {queue_id}", self._server.get_queue_item, queue_id)

    def console_chunk(self, job: str, number: int, start: int) -> tuple[bytes, int, bool]:
        """One read of the console log from byte ``start``: (bytes, next start, more to come)."""
        url = f"{self.url}{job_path(job)}/{number}/logText/progressiveText?start={start}"
        response = self._call(
            f"read console of {job!r} #{number}",
            self._server.jenkins_request,
            requests.Request("GET", url),
        )
        size = response.headers.get("X-Text-Size")
        try:
            next_start = int(size) if size is not None else start + len(response.content)
        except ValueError as exc:
            raise JenkinsError(f"console of {job!r} #{number}: bad X-Text-Size {size!r}") from exc
        more = response.headers.get("X-More-Data", "").lower() == "true"
        return response.content, next_start, more

    def build_info(self, job: str, number: int) -> dict[str, Any]:
        """Build ``job`` #``number`` as Jenkins describes it (``building``, ``result``, ``duration``)."""
        return self._call(f"read build {job!r} #{number}", self._server.get_build_info, job, number)

    def cancel_queue_item(self, queue_id: int) -> None:
        """Cancel queue item ``queue_id`` (a build that has not started)."""
        self._call(f"cancel queue item {queue_id}", self._server.cancel_queue, queue_id)

    def stop_build(self, job: str, number: int) -> None:
        """Abort the running build ``job`` #``number``."""
        self._call(f"abort build {job!r} #{number}", self._server.stop_build, job, number)
