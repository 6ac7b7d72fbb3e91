"""Refuse to start with default or empty secrets outside an explicit development mode.

Modes (``MLSTACK_ENV``, from the environment, ``.env`` or ``.secrets``):

``development``
    Explicitly local, reachable by nobody else: problems are reported, never refused.
``production`` (what the compose stack sets) and ``auto`` (the default when ``MLSTACK_ENV`` is unset)
    Enforced: every secret a component needs must be set, must not be a known default or
    placeholder (``change-me``, ``admin``, MLflow's ``password1234``, ...) and must be long enough
    (a Fernet key must be a valid Fernet key). Anything but an explicit development mode is enforced.

``make demo`` needs no secrets because it never starts these services: embedded mode runs the DAG
in-process (``dag.test``, a JWT secret generated per state folder) on a local MLflow store without
auth. Only the start-up of a real service calls the check.

``mlstack secrets check <component>...`` checks the components of ``SECRETS`` or ``all`` (=
airflow, airflow-viewer, mlflow, client; the others only when named). Each container of the
project's images that holds secrets (not third-party ones: postgres, rustfs, mailpit, ...) runs
``python -m mlstack.secrets_check $MLSTACK_STARTUP_CHECK`` before its service starts (images
without mlstack carry this module alone) and stops when it exits non-zero; secrets given as
files (``/run/secrets/<NAME>``, compose ``secrets:``) count as set. Values are never printed.
"""

from __future__ import annotations

import base64
import binascii
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path

from mlstack.errors import ConfigError

MODES = ("auto", "development", "production")
ENV_VAR = "MLSTACK_ENV"

# Values shipped as examples, documented defaults of the tools, and the usual guesses.
KNOWN_DEFAULTS = frozenset(
    {
        "",
        "change-me",
        "changeme",
        "change_me",
        "admin",
        "administrator",
        "airflow",
        "mlflow",
        "password",
        "password1",
        "password123",
        "password1234",  # MLflow basic-auth's default admin password
        "secret",
        "secret_key",
        "secretkey",
        "default",
        "test",
        "testing",
        "example",
        "root",
        "postgres",
        "jenkins",
        "123456",
        "12345678",
        "letmein",
        "none",
        "null",
        "xxx",
        "todo",
    }
)
GENERATE_TOKEN = "python -c 'import secrets; print(secrets.token_urlsafe(32))'"  # noqa: S105 - a command, not a secret
GENERATE_FERNET = "python -c 'from cryptography.fernet import Fernet; print(Fernet.generate_key().decode())'"


@dataclass(frozen=True)
class Secret:
    """One secret a component needs: where it is read from and how to set it."""

    label: str
    names: tuple[str, ...]  # environment variables, first one wins (compose maps the .secrets name)
    secrets_name: str  # the name in .secrets (docker-compose maps it onto `names`)
    min_length: int
    kind: str = "token"  # "token" | "password" | "fernet"
    optional_when: str | None = None  # a variable that, when unset, means this secret is not needed
    not_needed_with: tuple[str, ...] = ()  # variables that, when any is set, replace this secret

    def how_to_set(self) -> str:
        """Where to put a value and a command that generates one (never a value)."""
        generate = GENERATE_FERNET if self.kind == "fernet" else GENERATE_TOKEN
        return (
            f"set {self.secrets_name} in .secrets (`make secrets` writes random values), or export "
            f"{self.names[0]}; generate one with: {generate}"
        )


_CLIENT = Secret(
    "MLflow client password",
    ("MLFLOW_TRACKING_PASSWORD",),
    "MLFLOW_AUTH_ADMIN_PASSWORD",
    12,
    "password",
    optional_when="MLFLOW_TRACKING_USERNAME",
)

# The same variable in the serving containers, which log in as the read-only MLflow user.
_READER = replace(
    _CLIENT,
    label="MLflow reader password",
    secrets_name="MLFLOW_READER_PASSWORD",  # pragma: allowlist secret
)

_S3_KEY = Secret("S3 access key", ("AWS_ACCESS_KEY_ID", "RUSTFS_ACCESS_KEY"), "RUSTFS_ACCESS_KEY", 3)
_S3_SECRET = Secret(
    "S3 secret key", ("AWS_SECRET_ACCESS_KEY", "RUSTFS_SECRET_KEY"), "RUSTFS_SECRET_KEY", 16, "password"
)

SECRETS: dict[str, tuple[Secret, ...]] = {
    "airflow": (
        Secret(
            "Airflow admin password",
            ("MLSTACK_AIRFLOW_ADMIN_PASSWORD",),
            "MLSTACK_AIRFLOW_ADMIN_PASSWORD",
            12,
            "password",
        ),
        Secret(
            "Airflow Fernet key",
            ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
            "AIRFLOW_FERNET_KEY",
            44,
            "fernet",
        ),
        Secret(
            "Airflow JWT secret",
            ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
            "AIRFLOW_JWT_SECRET",
            32,
        ),
        Secret(
            "Airflow API secret key",
            ("AIRFLOW__API__SECRET_KEY", "AIRFLOW_API_SECRET_KEY"),
            "AIRFLOW_API_SECRET_KEY",
            32,
        ),
    ),
    # The read-only Airflow login (FAB role Viewer): only airflow-init, which creates the user, holds it.
    "airflow-viewer": (
        Secret(
            "Airflow viewer password",
            ("MLSTACK_AIRFLOW_VIEWER_PASSWORD",),
            "MLSTACK_AIRFLOW_VIEWER_PASSWORD",
            12,
            "password",
        ),
    ),
    "mlflow": (
        Secret(
            "MLflow auth admin password",
            ("MLFLOW_AUTH_ADMIN_PASSWORD",),
            "MLFLOW_AUTH_ADMIN_PASSWORD",
            12,
            "password",
        ),
        Secret(
            "MLflow auth (Flask) secret key",
            ("MLFLOW_FLASK_SERVER_SECRET_KEY",),
            "MLFLOW_FLASK_SERVER_SECRET_KEY",
            32,
        ),
    ),
    # What a client of an authenticated MLflow server (Airflow tasks, Streamlit, the CLI) holds.
    "client": (_CLIENT,),
    "reader": (_READER,),
    # The one-shot that creates that user (docker/mlflow/create_reader.py).
    "mlflow-users": (replace(_READER, names=("MLFLOW_READER_PASSWORD",), optional_when=None),),
    # The Streamlit app's login (mlstack.security.login).
    "ui": (
        Secret("Streamlit login password", ("MLSTACK_UI_PASSWORD",), "MLSTACK_UI_PASSWORD", 12, "password"),
    ),
    # Flower's basic auth (profile celery; AIRFLOW__CELERY__FLOWER_BASIC_AUTH is built from it).
    "flower": (
        Secret("Flower password", ("MLSTACK_FLOWER_PASSWORD",), "MLSTACK_FLOWER_PASSWORD", 12, "password"),
    ),
    # The prediction API's bearer token (`mlstack serve` checks it itself in production mode).
    "api": (Secret("Prediction API token", ("MLSTACK_API_TOKEN",), "MLSTACK_API_TOKEN", 32),),
    # Checked only when named (the Jenkins controller is an optional compose profile).
    "jenkins": (
        Secret(
            "Jenkins admin password", ("JENKINS_ADMIN_PASSWORD",), "JENKINS_ADMIN_PASSWORD", 12, "password"
        ),
        Secret(
            "Jenkins webhook token", ("MLSTACK_JENKINS_WEBHOOK_TOKEN",), "MLSTACK_JENKINS_WEBHOOK_TOKEN", 16
        ),
    ),
    # The S3 credentials (RustFS locally, AWS S3 in the cloud): a default key opens the model store.
    "s3": (_S3_KEY, _S3_SECRET),
    # Streamlit's and the API's S3 key: the data root only, never MLflow's artifacts (docs/security).
    "serving-s3": tuple(
        replace(
            s, label=f"Serving {s.label}", secrets_name=s.secrets_name.replace("RUSTFS", "MLSTACK_SERVING_S3")
        )
        for s in (_S3_KEY, _S3_SECRET)
    ),
    # The PostgreSQL roles of the compose stack (unneeded when a database URL or Neon replaces them).
    "airflow-db": (
        Secret(
            "Airflow database password",
            ("AIRFLOW_DB_PASSWORD",),
            "AIRFLOW_DB_PASSWORD",
            12,
            "password",
            not_needed_with=("AIRFLOW_DB_URL", "NEON_DATABASE_URL"),
        ),
    ),
    "mlflow-db": (
        Secret(
            "MLflow database password",
            ("MLFLOW_DB_PASSWORD",),
            "MLFLOW_DB_PASSWORD",
            12,
            "password",
            not_needed_with=("MLFLOW_DB_URL", "NEON_DATABASE_URL"),
        ),
    ),
    "prediction-log-db": (
        Secret(
            "Prediction log database password",
            ("MLSTACK_DB_PASSWORD",),
            "MLSTACK_DB_PASSWORD",
            12,
            "password",
            not_needed_with=("MLSTACK_PREDICTION_LOG_URL", "NEON_DATABASE_URL"),
        ),
    ),
}
ALL = ("airflow", "airflow-viewer", "mlflow", "client")  # what `all` means (`make check-secrets`)
COMPONENTS = (*SECRETS, "all")


@dataclass
class Finding:
    """One problem with one secret: which, what is wrong, how to fix it."""

    label: str
    variable: str
    problem: str
    how: str

    def describe(self) -> str:
        """The finding as one line, without the value."""
        return f"{self.label} ({self.variable}): {self.problem}; {self.how}"


@dataclass
class SecretsReport:
    """The outcome of one check: the mode, what was checked, what was wrong."""

    mode: str
    components: list[str]
    findings: list[Finding] = field(default_factory=list)
    checked: list[str] = field(default_factory=list)

    @property
    def refused(self) -> bool:
        """True when a service must not start: findings outside development mode."""
        return self.mode != "development" and bool(self.findings)

    def to_text(self) -> str:
        """The report as printed by `mlstack secrets check` (never a value)."""
        head = f"secrets check ({', '.join(self.components)}; MLSTACK_ENV={self.mode}): "
        if not self.findings:
            return head + f"ok ({len(self.checked)} checked)"
        verdict = "REFUSED" if self.refused else "allowed in development mode"
        lines = [head + f"{len(self.findings)} problem(s), {verdict}:"]
        lines += [f"  - {f.describe()}" for f in self.findings]
        if self.refused:
            lines.append(
                "  Fix them, or run with MLSTACK_ENV=development on a machine nobody else can reach."
            )
        return "\n".join(lines)


def environment(cwd: Path | None = None, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """The process environment over the values of `.env` and `.secrets` (as Settings reads them)."""
    from dotenv import dotenv_values

    base = Path(cwd) if cwd else Path.cwd()
    merged: dict[str, str] = {}
    for name in (".env", ".secrets"):
        path = base / name
        if path.is_file():
            merged.update({k: v for k, v in dotenv_values(path).items() if v is not None})
    merged.update(os.environ if environ is None else environ)
    return merged


def container_environment(
    environ: Mapping[str, str] | None = None, secrets_dir: Path = Path("/run/secrets")
) -> dict[str, str]:
    """A container's environment plus its compose secrets (one file per name in ``secrets_dir``)."""
    merged: dict[str, str] = {}
    if secrets_dir.is_dir():
        for path in secrets_dir.iterdir():
            if path.is_file() and path.name.isidentifier():
                merged[path.name] = path.read_text().strip()
    merged.update({k: v for k, v in (os.environ if environ is None else environ).items() if v})
    return merged


def mode_of(env: Mapping[str, str]) -> str:
    """MLSTACK_ENV as one of MODES (dev/prod accepted); ConfigError for anything else."""
    mode = (env.get(ENV_VAR) or "auto").strip().lower()
    aliases = {"dev": "development", "prod": "production", "": "auto"}
    mode = aliases.get(mode, mode)
    if mode not in MODES:
        raise ConfigError(f"{ENV_VAR}: {mode!r} is not one of {', '.join(MODES)}")
    return mode


def _is_default(value: str) -> bool:
    text = value.strip().lower()
    return text in KNOWN_DEFAULTS or text.startswith(("change-me", "changeme", "your-", "<"))


def _valid_fernet(value: str) -> bool:
    try:
        return len(base64.urlsafe_b64decode(value.encode())) == 32
    except (binascii.Error, ValueError):
        return False


def _check_one(secret: Secret, env: Mapping[str, str]) -> Finding | None:
    variable = next((n for n in secret.names if env.get(n) not in (None, "")), secret.names[0])
    value = env.get(variable) or ""
    if not value:
        problem = "is empty or not set"
    elif _is_default(value):
        problem = "is a known default or placeholder value"
    elif secret.kind == "fernet" and not _valid_fernet(value):
        problem = "is not a valid Fernet key (32 url-safe base64-encoded bytes)"
    elif len(value) < secret.min_length:
        problem = f"is too short ({len(value)} characters, need at least {secret.min_length})"
    else:
        return None
    return Finding(secret.label, variable, problem, secret.how_to_set())


def check_secrets(
    components: Iterable[str] = ("all",),
    env: Mapping[str, str] | None = None,
) -> SecretsReport:
    """Check the secrets of `components` (airflow, mlflow, client, all); never raises for findings."""
    env = environment() if env is None else env
    wanted = list(components) or ["all"]
    unknown = [c for c in wanted if c not in COMPONENTS]
    if unknown:
        raise ConfigError(f"unknown component(s) {unknown}; choose from {', '.join(COMPONENTS)}")
    names = list(dict.fromkeys([*(ALL if "all" in wanted else ()), *(w for w in wanted if w != "all")]))
    report = SecretsReport(mode_of(env), names)
    for component in names:
        for secret in SECRETS[component]:
            if secret.optional_when and not env.get(secret.optional_when):
                continue
            if any(env.get(name) for name in secret.not_needed_with):
                continue
            report.checked.append(secret.label)
            finding = _check_one(secret, env)
            if finding is not None:
                report.findings.append(finding)
    return report


def enforce(components: Iterable[str] = ("all",), env: Mapping[str, str] | None = None) -> SecretsReport:
    """Raise ConfigError (naming each variable and how to set it) when the check refuses."""
    report = check_secrets(components, env)
    if report.refused:
        raise ConfigError(report.to_text())
    return report


def main(argv: list[str] | None = None) -> int:
    """Container start: check the named components; exit 2 (report on stderr) when refused.

    Stdlib only, so that an image without the mlstack package can run this file alone.
    """
    import sys

    args = sys.argv[1:] if argv is None else argv
    try:
        report = check_secrets(args or ["all"], container_environment())
    except ConfigError as exc:
        print(f"secrets check: {exc}", file=sys.stderr)
        return 2
    print(report.to_text(), file=sys.stderr if report.findings else sys.stdout)
    return 2 if report.refused else 0


if __name__ == "__main__":
    raise SystemExit(main())
