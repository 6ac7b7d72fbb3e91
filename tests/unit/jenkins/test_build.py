"""`mlstack.jenkins.build`: trigger, queue, console, result and timeouts against the fake Jenkins."""

from __future__ import annotations

import io
import time

import pytest

from mlstack.jenkins.build import build
from mlstack.jenkins.errors import JenkinsTimeout, QueueItemCancelled
from mlstack.jenkins.results import EXIT_FAILED, EXIT_SUCCESS, BuildResult

from .conftest import CRUMB, USER, FakeJenkins, Scenario, client_for

pytestmark = pytest.mark.timeout(60)


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
    outcome = build(client_for(fake_jenkins), "mlstack", out=out, status=lines.append, timeout=30)

    assert outcome == BuildResult(
        job="mlstack",
        queue_id=1,
        number=7,
        url=f"{fake_jenkins.url}job/mlstack/7/",
        result="SUCCESS",
        duration_s=4.2,
    )
    assert outcome.succeeded and outcome.exit_code == EXIT_SUCCESS
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
    outcome = build(client_for(fake_jenkins), "mlstack", out=io.StringIO(), timeout=30)
    assert outcome.result == "FAILURE"
    assert not outcome.succeeded and outcome.exit_code == EXIT_FAILED
    assert fake_jenkins.paths()[-1] == "/job/mlstack/7/api/json"


@pytest.mark.parametrize(
    "fake_jenkins", [Scenario(jobs=("team/mlstack",), queue_states=[{"run": True}])], indirect=True
)
def test_parameters_and_folder_jobs_use_build_with_parameters(fake_jenkins: FakeJenkins):
    outcome = build(client_for(fake_jenkins), "team/mlstack", {"DRIFT": "1"}, out=None, timeout=30)
    assert outcome.result == "SUCCESS"
    post = [c for c in fake_jenkins.calls if c.method == "POST"]
    assert [c.path for c in post] == ["/job/team/job/mlstack/buildWithParameters"]
    assert post[0].query == {"DRIFT": ["1"]}
    # out=None: the console is not read at all, only the build's result.
    assert fake_jenkins.progressive_starts() == []


@pytest.mark.parametrize("fake_jenkins", [Scenario(parameterized=True)], indirect=True)
def test_parameterized_job_without_parameters_takes_the_defaults(fake_jenkins: FakeJenkins):
    outcome = build(client_for(fake_jenkins), "mlstack", out=io.StringIO(), timeout=30)
    assert outcome.result == "SUCCESS"
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build", "/job/mlstack/buildWithParameters"]
    assert all(c.crumb == CRUMB for c in fake_jenkins.calls if c.method == "POST")


@pytest.mark.parametrize(
    "fake_jenkins",
    [Scenario(queue_states=[{"why": "Waiting for next available executor"}, {"cancelled": True}])],
    indirect=True,
)
def test_cancelled_queue_item_raises_and_reads_no_build(fake_jenkins: FakeJenkins):
    with pytest.raises(QueueItemCancelled, match="queue item 1 of job 'mlstack' was cancelled"):
        build(client_for(fake_jenkins), "mlstack", out=io.StringIO())
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
    with pytest.raises(JenkinsTimeout, match=r"got no build within 0\.3s") as info:
        build(client_for(fake_jenkins), "mlstack", out=io.StringIO(), timeout=0.3, abort_on_timeout=abort)
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
    with pytest.raises(JenkinsTimeout, match="'mlstack' #7 still running after") as info:
        build(client_for(fake_jenkins), "mlstack", out=out, timeout=0.4, abort_on_timeout=abort)
    assert (info.value.queue_id, info.value.number) == (1, 7)
    assert info.value.url == f"{fake_jenkins.url}job/mlstack/7/"
    assert out.getvalue() == "Started\nFinished\n"  # what was logged so far was streamed
    assert len(fake_jenkins.progressive_starts()) > 2  # it kept polling until the deadline
    assert ("/job/mlstack/7/stop" in fake_jenkins.paths("POST")) is abort
