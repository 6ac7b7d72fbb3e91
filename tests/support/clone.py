"""A fresh clone of the code under test: tracked files only (no .env, .secrets, .venv or state).

Work in progress is carried over (``git diff HEAD`` and untracked, not-ignored files), so a
developer runs the same test locally as CI does on its clean clone.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def git(*args: str, cwd: Path = ROOT, stdin: bytes | None = None) -> bytes:
    return subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, check=True).stdout


def fresh_clone(dest: Path) -> Path:
    """Clone the repository into ``dest`` (which must not exist) with the working tree's changes."""
    git("clone", "--quiet", "--no-hardlinks", str(ROOT), str(dest))
    diff = git("diff", "HEAD", "--binary")
    if diff.strip():
        git("apply", "--whitespace=nowarn", "-", cwd=dest, stdin=diff)
    for name in git("ls-files", "--others", "--exclude-standard", "-z").split(b"\0"):
        if name:
            rel = name.decode()
            (dest / rel).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / rel, dest / rel)
    return dest


# What a user's shell would not carry: our settings, the test runner's and the calling venv's.
NOT_A_USERS = (
    "MLSTACK_",
    "_MLSTACK",
    "MLFLOW_",
    "AIRFLOW",
    "COMPOSE_",
    "DOCKER_",
    "PYTEST",
    "COV_",
    "VIRTUAL_ENV",
)


def user_env(**extra: str) -> dict[str, str]:
    """The environment of a user's shell (certificates, proxies, PATH kept), with ``extra`` set."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(NOT_A_USERS)}
    env.update(extra)
    return env
