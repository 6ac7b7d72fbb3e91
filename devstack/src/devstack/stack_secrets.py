"""Write a .secrets file from .secrets.example with fresh random values (mode 0600).

    devstack stack-secrets [--output .secrets] [--force]      (`make secrets`)

Every `NAME=change-me` line gets a new value: a Fernet key for AIRFLOW_FERNET_KEY, a random
URL-safe token otherwise. Other lines (comments, the commented cloud block) are copied as they
are. An existing output file is completed, not replaced: its values stay (secrets are not rotated
by accident), a `change-me` left in it gets a fresh value, and every key of the example it lacks
is appended. --force writes the file anew. Values are never printed, only names.
"""

from __future__ import annotations

import base64
import os
import re
import secrets
from dataclasses import dataclass, field
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


@dataclass
class SecretsWritten:
    """What `write_secrets` did: the names given fresh values, added, and kept as they were."""

    created: bool
    fresh: list[str] = field(default_factory=list)  # placeholders given a random value
    added: list[str] = field(default_factory=list)  # keys of the example the file lacked
    kept: list[str] = field(default_factory=list)  # values already there, untouched


def merge(example: str, existing: str) -> tuple[str, SecretsWritten]:
    """``existing`` completed from ``example``: its values kept, placeholders and absent keys filled."""
    result = SecretsWritten(created=False)
    out, present = [], set()
    for line in existing.splitlines():
        match = LINE.match(line)
        if match:
            name = match.group("name")
            present.add(name)
            if match.group("value").strip() == PLACEHOLDER:
                line = f"{name}={fresh(name)}"
                result.fresh.append(name)
            else:
                result.kept.append(name)
        out.append(line)
    missing = [m for m in map(LINE.match, example.splitlines()) if m and m.group("name") not in present]
    if missing:
        out.append("# added by `make secrets`: keys of .secrets.example this file lacked")
    for match in missing:
        name, value = match.group("name"), match.group("value")
        out.append(f"{name}={fresh(name) if value.strip() == PLACEHOLDER else value}")
        result.added.append(name)
    return "\n".join(out) + "\n", result


def write_secrets(example: Path, output: Path, *, force: bool = False) -> SecretsWritten:
    """Write ``output`` (0600) from ``example``, or complete an existing one (see the module doc)."""
    template = example.read_text()
    if output.exists() and not force:
        text, result = merge(template, output.read_text())
        if not (result.fresh or result.added):
            return result  # nothing to change: the file is not rewritten
    else:
        text = render(template)
        names = [m.group("name") for m in map(LINE.match, template.splitlines()) if m]
        result = SecretsWritten(created=True, fresh=[n for n in names if n in _placeholders(template)])
    tmp = output.with_name(output.name + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write(text)
    os.chmod(tmp, 0o600)
    os.replace(tmp, output)  # a crash never leaves a half-written .secrets
    return result


def _placeholders(template: str) -> set[str]:
    return {
        m.group("name")
        for m in map(LINE.match, template.splitlines())
        if m and m.group("value").strip() == PLACEHOLDER
    }
