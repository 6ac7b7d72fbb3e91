"""Trigger a Jenkins job and follow it to its result, with python-jenkins.

This is how "build on push" works without a public webhook: a git hook
(``scripts/git-hooks/post-commit``, installed by ``make jenkins-hook``) or a person runs
``python -m mlstack.jenkins_client build mlstack``, which

1. asks Jenkins for a build (``build_job``; Jenkins answers with a queue item),
2. follows the queue item until an executor takes it and it gets a build number
   (or until it is cancelled),
3. streams the console log (``logText/progressiveText``) until the build finishes,
4. returns the build's result (SUCCESS, UNSTABLE, FAILURE, ABORTED, NOT_BUILT).

Credentials are arguments: the URL of Jenkins, a user and that user's API token. ``from_env``
and the command line read them from ``MLSTACK_JENKINS_URL``, ``MLSTACK_JENKINS_USER`` and
``MLSTACK_JENKINS_TOKEN``. The token is never printed.
"""

from __future__ import annotations

import argparse
import codecs
import os
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO, TypeVar
from urllib.parse import quote, urlsplit

import jenkins
import requests

from mlstack.errors import MlstackError

ENV_URL = "MLSTACK_JENKINS_URL"
ENV_USER = "MLSTACK_JENKINS_USER"
ENV_TOKEN = "MLSTACK_JENKINS_TOKEN"  # noqa: S105 - the variable's name, not a secret

DEFAULT_JOB = "mlstack"
RESULTS = ("SUCCESS", "UNSTABLE", "FAILURE", "ABORTED", "NOT_BUILT")

# Exit codes of ``python -m mlstack.jenkins_client build``.
EXIT_SUCCESS = 0
EXIT_FAILED = 1  # FAILURE, ABORTED, NOT_BUILT, or the queue item was cancelled
EXIT_ERROR = 2  # bad settings, Jenkins unreachable, authentication refused, unknown job
EXIT_UNSTABLE = 3  # e.g. drift found by the pipeline's drift check
EXIT_TIMEOUT = 4

T = TypeVar("T")


class JenkinsError(MlstackError):
    """Jenkins could not be reached, refused the request, or answered something unexpected."""


class JenkinsTimeout(JenkinsError):
    """The build did not get a number, or did not finish, within the time allowed."""

    def __init__(
        self,
        message: str,
        *,
        queue_id: int | None = None,
        number: int | None = None,
        url: str | None = None,
    ) -> None:
        super().__init__(message)
        self.queue_id = queue_id
        self.number = number
        self.url = url


class QueueItemCancelled(JenkinsError):
    """The queue item was cancelled before any build started."""

    def __init__(self, message: str, *, queue_id: int) -> None:
        super().__init__(message)
        self.queue_id = queue_id


@dataclass(frozen=True)
class BuildResult:
    """The outcome of one build."""

    job: str
    queue_id: int
    number: int
    url: str
    result: str
    duration_s: float  # as Jenkins measured it

    @property
    def succeeded(self) -> bool:
        return self.result == "SUCCESS"

    @property
    def exit_code(self) -> int:
        if self.result == "SUCCESS":
            return EXIT_SUCCESS
        if self.result == "UNSTABLE":
            return EXIT_UNSTABLE
        return EXIT_FAILED


def _job_path(job: str) -> str:
    """``folder/name`` -> ``job/folder/job/name`` (each part URL-quoted)."""
    parts = [part for part in job.split("/") if part]
    if not parts:
        raise JenkinsError("job name is empty")
    return "/".join(f"job/{quote(part, safe='')}" for part in parts)


class JenkinsClient:
    """A thin, typed layer over python-jenkins with timeouts and readable errors.

    ``request_timeout`` bounds each HTTP request; ``timeout`` arguments bound whole waits.
    ``poll_interval`` is the pause between two polls of the queue, the log or the build.
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
        self._clock = clock
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

    # -- the steps -----------------------------------------------------------------------

    def trigger(self, job: str, parameters: Mapping[str, str] | None = None) -> int:
        """Ask Jenkins for a build of ``job``; return the queue item number.

        A job with parameters (the Jenkinsfile declares some) refuses a plain ``build`` with
        400 "Nothing is submitted"; it is then asked for ``buildWithParameters``, which takes
        each parameter's default.
        """
        path = _job_path(job)  # validates the name
        what = f"trigger job {job!r}"
        if parameters:
            return self._call(what, self._server.build_job, job, dict(parameters))
        try:
            return self._call(what, self._server.build_job, job)
        except JenkinsError as exc:
            cause = exc.__cause__
            if not (isinstance(cause, requests.HTTPError) and cause.response.status_code == 400):
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

    def wait_for_build_number(
        self,
        job: str,
        queue_id: int,
        *,
        timeout: float,
        status: Callable[[str], None] | None = None,
    ) -> tuple[int, str]:
        """Follow queue item ``queue_id`` until it has a build; return (number, url).

        Raises QueueItemCancelled if the item was cancelled, JenkinsTimeout after ``timeout``.
        """
        return self._wait_for_build_number(
            job, queue_id, deadline=self._clock() + timeout, limit=timeout, status=status
        )

    def _wait_for_build_number(
        self,
        job: str,
        queue_id: int,
        *,
        deadline: float,
        limit: float,
        status: Callable[[str], None] | None,
    ) -> tuple[int, str]:
        last_why: str | None = None
        while True:
            item = self._call(f"read queue item {queue_id}", self._server.get_queue_item, queue_id)
            if item.get("cancelled"):
                raise QueueItemCancelled(
                    f"queue item {queue_id} of job {job!r} was cancelled before a build started",
                    queue_id=queue_id,
                )
            executable = item.get("executable")
            if executable and executable.get("number") is not None:
                number = int(executable["number"])
                url = str(executable.get("url") or f"{self.url}{_job_path(job)}/{number}/")
                return number, url
            why = item.get("why")
            if status and why and why != last_why:
                status(f"queued: {why}")
            last_why = why
            if self._clock() >= deadline:
                raise JenkinsTimeout(
                    f"queue item {queue_id} of job {job!r} got no build within {limit:g}s"
                    + (f" (Jenkins says: {why})" if why else ""),
                    queue_id=queue_id,
                )
            self._sleep(self.poll_interval)

    def _progressive_text(self, job: str, number: int, start: int) -> tuple[bytes, int, bool]:
        """One read of the console log from byte ``start``: (bytes, next start, more to come)."""
        url = f"{self.url}{_job_path(job)}/{number}/logText/progressiveText?start={start}"
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

    def stream_console(self, job: str, number: int, *, out: TextIO, timeout: float) -> None:
        """Copy the console log of ``job`` #``number`` to ``out`` until the log is complete."""
        self._stream_console(job, number, out=out, deadline=self._clock() + timeout, limit=timeout)

    def _stream_console(self, job: str, number: int, *, out: TextIO, deadline: float, limit: float) -> None:
        decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
        start = 0
        while True:
            chunk, start, more = self._progressive_text(job, number, start)
            text = decoder.decode(chunk)
            if text:
                out.write(text)
                out.flush()
            if not more:
                tail = decoder.decode(b"", final=True)
                if tail:
                    out.write(tail)
                    out.flush()
                return
            if self._clock() >= deadline:
                raise JenkinsTimeout(
                    f"build {job!r} #{number} still running after {limit:g}s",
                    number=number,
                )
            self._sleep(self.poll_interval)

    def wait_for_result(self, job: str, number: int, *, timeout: float) -> dict[str, Any]:
        """Poll the build until it has a result; return its JSON (``result``, ``duration``...)."""
        return self._wait_for_result(job, number, deadline=self._clock() + timeout, limit=timeout)

    def _wait_for_result(self, job: str, number: int, *, deadline: float, limit: float) -> dict[str, Any]:
        while True:
            info = self._call(f"read build {job!r} #{number}", self._server.get_build_info, job, number)
            if not info.get("building") and info.get("result"):
                return info
            if self._clock() >= deadline:
                raise JenkinsTimeout(
                    f"build {job!r} #{number} still running after {limit:g}s (no result yet)",
                    number=number,
                    url=info.get("url"),
                )
            self._sleep(self.poll_interval)

    def cancel_queue_item(self, queue_id: int) -> None:
        self._call(f"cancel queue item {queue_id}", self._server.cancel_queue, queue_id)

    def stop_build(self, job: str, number: int) -> None:
        self._call(f"abort build {job!r} #{number}", self._server.stop_build, job, number)

    # -- all together --------------------------------------------------------------------

    def build(
        self,
        job: str = DEFAULT_JOB,
        parameters: Mapping[str, str] | None = None,
        *,
        timeout: float = 3600.0,
        out: TextIO | None = None,
        status: Callable[[str], None] | None = None,
        abort_on_timeout: bool = False,
    ) -> BuildResult:
        """Trigger ``job``, follow queue and console, return the result.

        ``timeout`` bounds the whole wait (queue + build). On timeout a JenkinsTimeout is
        raised; with ``abort_on_timeout`` the queue item is cancelled or the build aborted
        first, otherwise the build goes on in Jenkins. ``out`` receives the console log
        (nothing is streamed when it is None); ``status`` receives short progress lines.
        """
        if timeout <= 0:
            raise JenkinsError("timeout must be > 0 seconds")
        deadline = self._clock() + timeout
        queue_id = self.trigger(job, parameters)
        if status:
            status(f"triggered {job!r}: queue item {queue_id}")
        try:
            number, url = self._wait_for_build_number(
                job, queue_id, deadline=deadline, limit=timeout, status=status
            )
        except JenkinsTimeout:
            if abort_on_timeout:
                self.cancel_queue_item(queue_id)
                if status:
                    status(f"cancelled queue item {queue_id}")
            raise
        if status:
            status(f"build #{number} started: {url}")
        try:
            if out is not None:
                self._stream_console(job, number, out=out, deadline=deadline, limit=timeout)
            info = self._wait_for_result(job, number, deadline=deadline, limit=timeout)
        except JenkinsTimeout as exc:
            exc.queue_id, exc.number, exc.url = queue_id, number, url
            if abort_on_timeout:
                self.stop_build(job, number)
                if status:
                    status(f"aborted build #{number}")
            raise
        result = str(info["result"])
        if status:
            status(f"build #{number} finished: {result}")
        return BuildResult(
            job=job,
            queue_id=queue_id,
            number=number,
            url=str(info.get("url") or url),
            result=result,
            duration_s=float(info.get("duration") or 0) / 1000.0,
        )


# -- command line ------------------------------------------------------------------------


def _read_env_files(paths: Sequence[Path]) -> dict[str, str]:
    """Values of the three Jenkins variables from dotenv files (later files win)."""
    from dotenv import dotenv_values

    found: dict[str, str] = {}
    for path in paths:
        if path.is_file():
            for key, value in dotenv_values(path).items():
                if key in {ENV_URL, ENV_USER, ENV_TOKEN} and value:
                    found[key] = value
    return found


def _parse_param(text: str) -> tuple[str, str]:
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    return key, value


def main(argv: Sequence[str] | None = None, *, environ: Mapping[str, str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m mlstack.jenkins_client",
        description=(
            "Trigger a Jenkins build and follow it: queue, console, result. Reads "
            f"{ENV_URL}, {ENV_USER}, {ENV_TOKEN} from the environment, then .env and .secrets."
        ),
    )
    sub = parser.add_subparsers(dest="command", required=True)
    run = sub.add_parser("build", help="trigger a build, stream its console, exit with its result")
    run.add_argument("job", nargs="?", default=DEFAULT_JOB, help=f"job name (default {DEFAULT_JOB})")
    run.add_argument(
        "-p",
        "--param",
        action="append",
        type=_parse_param,
        default=[],
        metavar="KEY=VALUE",
        help="build parameter (repeatable)",
    )
    run.add_argument("--timeout", type=float, default=3600.0, help="seconds for queue + build")
    run.add_argument("--poll-interval", type=float, default=2.0, help="seconds between polls")
    run.add_argument("--request-timeout", type=float, default=30.0, help="seconds per request")
    run.add_argument(
        "--abort-on-timeout",
        action="store_true",
        help="cancel the queue item or abort the build when the timeout is reached",
    )
    run.add_argument("--quiet", action="store_true", help="do not stream the console log")
    run.add_argument(
        "--env-file",
        action="append",
        type=Path,
        default=None,
        help="dotenv file(s) to read when a variable is not set (default .env .secrets)",
    )
    args = parser.parse_args(argv)

    def status(message: str) -> None:
        print(f"[jenkins] {message}", file=sys.stderr, flush=True)

    env: dict[str, str] = _read_env_files(args.env_file or [Path(".env"), Path(".secrets")])
    env.update({k: v for k, v in (os.environ if environ is None else environ).items() if v})
    try:
        client = JenkinsClient.from_env(
            env, request_timeout=args.request_timeout, poll_interval=args.poll_interval
        )
        outcome = client.build(
            args.job,
            dict(args.param) or None,
            timeout=args.timeout,
            out=None if args.quiet else sys.stdout,
            status=status,
            abort_on_timeout=args.abort_on_timeout,
        )
    except JenkinsTimeout as exc:
        status(f"timeout: {exc}")
        return EXIT_TIMEOUT
    except QueueItemCancelled as exc:
        status(str(exc))
        return EXIT_FAILED
    except JenkinsError as exc:
        status(f"error: {exc}")
        return EXIT_ERROR
    status(f"{outcome.job} #{outcome.number}: {outcome.result} ({outcome.url})")
    return outcome.exit_code


if __name__ == "__main__":
    sys.exit(main())
