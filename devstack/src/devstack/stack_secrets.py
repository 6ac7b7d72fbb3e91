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
    if name in ("RUSTFS_ACCESS_KEY", "MLSTACK_SERVING_S3_ACCESS_KEY"):  # S3 access keys: 3-20 characters
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


# --- the files compose mounts (issue 15 §2: a plain `docker compose up` after `make secrets`) ----
#
# Compose reads only `.env` by itself, so the secrets reach the containers as files: the
# top-level `secrets:` of docker-compose.yml name `${MLSTACK_SECRETS_DIR}/<NAME>`, and a service
# lists the ones it needs (mounted at /run/secrets/<NAME>, never in `docker inspect`). `make
# secrets` writes one file per declared name from .secrets (empty when .secrets has no value:
# compose needs the file to exist) and sets MLSTACK_SECRETS_DIR in .env; before that, compose
# stops on its `${MLSTACK_SECRETS_DIR:?...}` with one line saying to run `make secrets`.

SECRETS_DIR_VAR = "MLSTACK_SECRETS_DIR"  # pragma: allowlist secret
DEFAULT_SECRETS_DIR = "./.secrets.d"


def _mailpit_ui_auth(values: dict[str, str]) -> str:
    """Mailpit's MP_UI_AUTH_FILE: one `user:password` line (the user is a setting of .env)."""
    password = values.get("MLSTACK_MAILPIT_PASSWORD", "")
    return f"{values.get('MLSTACK_MAILPIT_USER') or 'admin'}:{password}" if password else ""


# Files whose content is built from several variables (an image reads it in one piece).
DERIVED = {"MAILPIT_UI_AUTH": _mailpit_ui_auth}


def declared_secret_files(compose_file: Path) -> list[str]:
    """The names of the top-level secrets docker-compose.yml reads from the secrets folder."""
    import yaml

    declared = yaml.safe_load(compose_file.read_text()).get("secrets") or {}
    return sorted(
        name for name, spec in declared.items() if SECRETS_DIR_VAR in str((spec or {}).get("file", ""))
    )


def write_secret_files(secrets_file: Path, env_file: Path, directory: Path, compose_file: Path) -> list[str]:
    """One file per declared secret in ``directory`` (0700; files 0644, as the containers' users
    read them through the bind mount), from ``secrets_file`` over ``env_file``; returns the names."""
    from dotenv import dotenv_values

    values: dict[str, str] = {}
    for path in (env_file, secrets_file):
        if path.is_file():
            values.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    directory.mkdir(mode=0o700, parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    names = declared_secret_files(compose_file)
    for name in names:
        content = DERIVED[name](values) if name in DERIVED else values.get(name, "")
        tmp = directory / f".{name}.tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        with os.fdopen(fd, "w") as fh:
            fh.write(content)
        os.chmod(tmp, 0o644)
        os.replace(tmp, directory / name)
    return names


def set_secrets_dir(env_file: Path, directory: str = DEFAULT_SECRETS_DIR) -> bool:
    """Add ``MLSTACK_SECRETS_DIR`` to ``env_file`` unless it is set there; True when added."""
    text = env_file.read_text() if env_file.exists() else ""
    if re.search(rf"^{SECRETS_DIR_VAR}=", text, re.MULTILINE):
        return False
    lines = [
        "# Written by `make secrets`: the folder of one file per secret (made from .secrets) that",
        "# compose mounts in /run/secrets. Unset, `docker compose up` stops and says to run it.",
        f"{SECRETS_DIR_VAR}={directory}",
    ]
    env_file.write_text(text + ("" if not text or text.endswith("\n") else "\n") + "\n".join(lines) + "\n")
    return True
