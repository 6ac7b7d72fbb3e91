"""Write a .secrets file from .secrets.example with fresh random values (mode 0600).

    devstack stack-secrets [--output .secrets] [--force]      (`make secrets`)

Every `NAME=change-me` line gets a new value: a Fernet key for AIRFLOW_FERNET_KEY, a random
URL-safe token otherwise. Other lines (comments, the commented cloud block) are copied as they
are. An existing output file is kept unless --force: secrets are not rotated by accident.
Values are never printed.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]  # devstack/src/devstack/ -> the repository
PLACEHOLDER = "change-me"
LINE = re.compile(r"^(?P<name>[A-Z][A-Z0-9_]*)=(?P<value>.*)$")


def fresh(name: str) -> str:
    """A new random value of the right form for the variable ``name``."""
    if name == "AIRFLOW_FERNET_KEY":
        return base64.urlsafe_b64encode(os.urandom(32)).decode()
    if name == "RUSTFS_ACCESS_KEY":
        return "mlstack" + secrets.token_hex(6)
    if name == "MLSTACK_API_TOKEN":  # a bearer token handed to client applications: longer
        return secrets.token_urlsafe(32)
    return secrets.token_urlsafe(24)


def render(example: str) -> str:
    """The example file's text with every ``change-me`` value replaced by a fresh one."""
    out = []
    for line in example.splitlines():
        match = LINE.match(line)
        if match and match.group("value").strip() == PLACEHOLDER:
            line = f"{match.group('name')}={fresh(match.group('name'))}"
        out.append(line)
    return "\n".join(out) + "\n"


def write_secrets(example: Path, output: Path, *, force: bool = False) -> int | None:
    """Write ``output`` (0600) from ``example``; the number of random values, None if kept."""
    if output.exists() and not force:
        return None
    text = render(example.read_text())
    fd = os.open(output, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(output, 0o600)
    return sum(1 for ln in example.read_text().splitlines() if ln.endswith("=" + PLACEHOLDER))
