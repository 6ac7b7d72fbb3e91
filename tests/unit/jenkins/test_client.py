"""`mlstack.jenkins.client`: settings, authentication, unreachable or slow Jenkins, unknown jobs."""

from __future__ import annotations

import time

import pytest

from mlstack.jenkins.build import build
from mlstack.jenkins.client import ENV_TOKEN, ENV_URL, ENV_USER, JenkinsClient
from mlstack.jenkins.errors import JenkinsError

from .conftest import POLL, TOKEN, USER, FakeJenkins, Scenario, client_for

pytestmark = pytest.mark.timeout(60)


# -- errors --------------------------------------------------------------------------------


def test_wrong_token_is_a_clear_error_without_the_token(fake_jenkins: FakeJenkins):
    client = JenkinsClient(fake_jenkins.url, USER, "wrong-token-value", poll_interval=POLL)
    with pytest.raises(JenkinsError) as info:
        build(client, "mlstack")
    message = str(info.value)
    assert "refused 'ci-bot'" in message and "MLSTACK_JENKINS_TOKEN" in message
    assert "wrong-token-value" not in message
    assert fake_jenkins.paths("POST") == []  # the crumb request failed first


def test_unknown_job_is_not_found(fake_jenkins: FakeJenkins):
    with pytest.raises(JenkinsError, match="trigger job 'nope': not found"):
        build(client_for(fake_jenkins), "nope")
    assert fake_jenkins.paths("POST") == ["/job/nope/build"]


def test_unreachable_jenkins():
    # A port that was free a moment ago: nothing listens there.
    fake = FakeJenkins(Scenario())
    url = fake.url
    fake.httpd.server_close()
    client = JenkinsClient(url, USER, TOKEN, request_timeout=2.0)
    with pytest.raises(JenkinsError, match="cannot reach Jenkins at"):
        client.trigger("mlstack")


@pytest.mark.parametrize("fake_jenkins", [Scenario(delay_s=1.0)], indirect=True)
def test_slow_answers_hit_the_request_timeout(fake_jenkins: FakeJenkins):
    client = client_for(fake_jenkins, request_timeout=0.2)
    started = time.monotonic()
    with pytest.raises(JenkinsError, match=r"did not answer within 0\.2s"):
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
    with pytest.raises(JenkinsError, match=message):
        JenkinsClient(url, user, token)


def test_from_env_needs_the_url():
    with pytest.raises(JenkinsError, match="MLSTACK_JENKINS_URL is not set"):
        JenkinsClient.from_env({})
    client = JenkinsClient.from_env({ENV_URL: "http://127.0.0.1:8081", ENV_USER: USER, ENV_TOKEN: TOKEN})
    assert client.url == "http://127.0.0.1:8081/" and client.user == USER
