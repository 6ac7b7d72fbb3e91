"""Trigger a build and follow it: queue item, build number, console, result, under one deadline."""

from __future__ import annotations

import codecs
from collections.abc import Callable, Mapping
from typing import Any, TextIO

from mlstack.jenkins import DEFAULT_JOB
from mlstack.jenkins.client import JenkinsClient, job_path
from mlstack.jenkins.errors import JenkinsError, JenkinsTimeout, QueueItemCancelled
from mlstack.jenkins.results import BuildResult

Status = Callable[[str], None]


def build(
    client: JenkinsClient,
    job: str = DEFAULT_JOB,
    parameters: Mapping[str, str] | None = None,
    *,
    timeout: float = 3600.0,
    out: TextIO | None = None,
    status: Status | None = None,
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
    deadline = client.clock() + timeout
    queue_id = client.trigger(job, parameters)
    if status:
        status(f"triggered {job!r}: queue item {queue_id}")
    try:
        number, url = _wait_for_build_number(
            client, job, queue_id, deadline=deadline, limit=timeout, status=status
        )
    except JenkinsTimeout:
        if abort_on_timeout:
            client.cancel_queue_item(queue_id)
            if status:
                status(f"cancelled queue item {queue_id}")
        raise
    if status:
        status(f"build #{number} started: {url}")
    try:
        if out is not None:
            _stream_console(client, job, number, out=out, deadline=deadline, limit=timeout)
        info = _wait_for_result(client, job, number, deadline=deadline, limit=timeout)
    except JenkinsTimeout as exc:
        exc.queue_id, exc.number, exc.url = queue_id, number, url
        if abort_on_timeout:
            client.stop_build(job, number)
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


def wait_for_build_number(
    client: JenkinsClient, job: str, queue_id: int, *, timeout: float, status: Status | None = None
) -> tuple[int, str]:
    """Follow queue item ``queue_id`` until it has a build; return (number, url).

    Raises QueueItemCancelled if the item was cancelled, JenkinsTimeout after ``timeout``.
    """
    return _wait_for_build_number(
        client, job, queue_id, deadline=client.clock() + timeout, limit=timeout, status=status
    )


def _wait_for_build_number(
    client: JenkinsClient,
    job: str,
    queue_id: int,
    *,
    deadline: float,
    limit: float,
    status: Status | None,
) -> tuple[int, str]:
    last_why: str | None = None
    while True:
        item = client.queue_item(queue_id)
        if item.get("cancelled"):
            raise QueueItemCancelled(
                f"queue item {queue_id} of job {job!r} was cancelled before a build started",
                queue_id=queue_id,
            )
        executable = item.get("executable")
        if executable and executable.get("number") is not None:
            number = int(executable["number"])
            url = str(executable.get("url") or f"{client.url}{job_path(job)}/{number}/")
            return number, url
        why = item.get("why")
        if status and why and why != last_why:
            status(f"queued: {why}")
        last_why = why
        if client.clock() >= deadline:
            raise JenkinsTimeout(
                f"queue item {queue_id} of job {job!r} got no build within {limit:g}s"
                + (f" (Jenkins says: {why})" if why else ""),
                queue_id=queue_id,
            )
        client.pause()


def stream_console(client: JenkinsClient, job: str, number: int, *, out: TextIO, timeout: float) -> None:
    """Copy the console log of ``job`` #``number`` to ``out`` until the log is complete."""
    _stream_console(client, job, number, out=out, deadline=client.clock() + timeout, limit=timeout)


def _stream_console(
    client: JenkinsClient, job: str, number: int, *, out: TextIO, deadline: float, limit: float
) -> None:
    # Incremental: a character split across two reads is decoded whole.
    decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
    start = 0
    while True:
        chunk, start, more = client.console_chunk(job, number, start)
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
        if client.clock() >= deadline:
            raise JenkinsTimeout(f"build {job!r} #{number} still running after {limit:g}s", number=number)
        client.pause()


def wait_for_result(client: JenkinsClient, job: str, number: int, *, timeout: float) -> dict[str, Any]:
    """Poll the build until it has a result; return its JSON (``result``, ``duration``...)."""
    return _wait_for_result(client, job, number, deadline=client.clock() + timeout, limit=timeout)


def _wait_for_result(
    client: JenkinsClient, job: str, number: int, *, deadline: float, limit: float
) -> dict[str, Any]:
    while True:
        info = client.build_info(job, number)
        if not info.get("building") and info.get("result"):
            return info
        if client.clock() >= deadline:
            raise JenkinsTimeout(
                f"build {job!r} #{number} still running after {limit:g}s (no result yet)",
                number=number,
                url=info.get("url"),
            )
        client.pause()
