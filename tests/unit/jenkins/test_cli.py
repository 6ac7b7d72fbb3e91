"""`mlstack jenkins build` (exit codes, output, no token shown) and the git hook that runs it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import Result
from typer.testing import CliRunner

from mlstack.cli import app
from mlstack.jenkins.client import ENV_TOKEN, ENV_URL, ENV_USER
from mlstack.jenkins.results import EXIT_ERROR, EXIT_FAILED, EXIT_SUCCESS, EXIT_TIMEOUT, EXIT_UNSTABLE

from .conftest import TOKEN, USER, FakeJenkins, Scenario

pytestmark = pytest.mark.timeout(60)


def run_cli(argv: list[str], environ: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> Result:
    """`mlstack jenkins <argv>` in-process with exactly `environ` as the Jenkins variables."""
    for name in (ENV_URL, ENV_USER, ENV_TOKEN):
        monkeypatch.delenv(name, raising=False)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(app, ["jenkins", *argv])


# -- the command line (what the git hook runs) ---------------------------------------------


@pytest.mark.parametrize(
    ("fake_jenkins", "code"),
    [
        (Scenario(result="SUCCESS"), EXIT_SUCCESS),
        (Scenario(result="UNSTABLE"), EXIT_UNSTABLE),
        (Scenario(result="FAILURE"), EXIT_FAILED),
        (Scenario(queue_states=[{"cancelled": True}]), EXIT_FAILED),
    ],
    indirect=["fake_jenkins"],
)
def test_cli_exit_code_follows_the_result(
    fake_jenkins: FakeJenkins, code: int, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    secrets = tmp_path / ".secrets"
    secrets.write_text(f"{ENV_URL}={fake_jenkins.url}\n{ENV_USER}={USER}\n{ENV_TOKEN}={TOKEN}\n")
    argv = ["build", "mlstack", "--poll-interval", "0.01", "--env-file", str(secrets)]
    captured = run_cli(argv, {}, monkeypatch)
    assert captured.exit_code == code, captured.output
    if code != EXIT_FAILED or fake_jenkins.scenario.queue_states[0].get("run"):
        assert captured.stdout == "Started\nFinished\n"
        assert f"mlstack #7: {fake_jenkins.scenario.result}" in captured.stderr
    assert TOKEN not in captured.stdout + captured.stderr
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build"]


@pytest.mark.parametrize("fake_jenkins", [Scenario(never_finishes=True)], indirect=True)
def test_cli_timeout_exit_code(fake_jenkins: FakeJenkins, monkeypatch: pytest.MonkeyPatch):
    env = {ENV_URL: fake_jenkins.url, ENV_USER: USER, ENV_TOKEN: TOKEN}
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
    result = run_cli(argv, env, monkeypatch)
    assert result.exit_code == EXIT_TIMEOUT, result.output
    err = result.stderr
    assert "timeout:" in err and "aborted build #7" in err
    assert "/job/mlstack/7/stop" in fake_jenkins.paths("POST")


def test_cli_without_settings_is_an_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    argv = ["build", "--env-file", str(tmp_path / "missing")]
    result = run_cli(argv, {}, monkeypatch)
    assert result.exit_code == EXIT_ERROR
    assert "MLSTACK_JENKINS_URL is not set" in result.stderr


# -- the git hook: make jenkins-hook, then commits ------------------------------------------

ROOT = Path(__file__).resolve().parents[3]


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
    jenkins_env = {ENV_URL: fake_jenkins.url, ENV_USER: USER, ENV_TOKEN: TOKEN}
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
    no_url = {k: v for k, v in env.items() if k != ENV_URL}
    proc = _commit(hooked_repo, no_url, "four")
    assert proc.returncode == 0 and proc.stdout + proc.stderr == ""
    assert fake_jenkins.paths("POST") == ["/job/mlstack/build"]


@pytest.mark.parametrize("fake_jenkins", [ONE_STEP], indirect=True)
def test_post_commit_hook_in_the_background_logs_the_build(
    fake_jenkins: FakeJenkins, hooked_repo: Path, tmp_path: Path
):
    # Settings from the work tree's .secrets, as a developer would keep them.
    (hooked_repo / ".secrets").write_text(
        f"{ENV_URL}={fake_jenkins.url}\n{ENV_USER}={USER}\n{ENV_TOKEN}={TOKEN}\n"
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


@pytest.mark.parametrize("mode", ["background", "follow"])
def test_post_commit_hook_prints_a_failed_trigger_in_the_terminal(
    hooked_repo: Path, tmp_path: Path, mode: str
):
    """A Jenkins URL where nothing listens: the commit is made, and the hook says on the
    terminal (git hands it the hook's output) that no build was requested (issue 20, item 6)."""
    from devstack.ports import free_port

    home = tmp_path / "home"
    url = f"http://127.0.0.1:{free_port()}/"  # free now: connections are refused
    env = _clean_env(
        MLSTACK_PYTHON=sys.executable,
        MLSTACK_HOME=str(home),
        MLSTACK_JENKINS_HOOK=mode,
        **{ENV_URL: url, ENV_USER: USER, ENV_TOKEN: TOKEN},
    )
    proc = _commit(hooked_repo, env, "one")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout + proc.stderr
    assert "NOT requested" in out, out
    assert "follow it with" not in out and "finished with exit code" not in out
    if mode == "background":
        assert "exit code 2" in out and "[jenkins] error:" in out
        assert str(home / "logs" / "jenkins-post-commit.log") in out
    assert TOKEN not in out
