"""Derive the stack's settings from its secret files and .env variables (container start).

    eval "$(python /opt/mlstack/mlstack_env.py [secrets] [airflow|mlflow|streamlit])"

Prints `export NAME='value'` lines (shell-quoted) for the settings a component needs, so that
passwords with any character end up correctly URL-encoded and nobody edits a file to switch
between the local services and the cloud ones:

secrets     the compose secrets (/run/secrets/<NAME>, one file per .secrets variable; empty file =
            unset) as variables of this process tree only (never in `docker inspect`), and the
            names programs read made from them: MLFLOW_TRACKING_PASSWORD (when a username is set:
            the admin's password where mounted, else the read-only reader's),
            AWS_* (else the serving pair MLSTACK_SERVING_S3_*, else RustFS's keys),
            AIRFLOW__* (Fernet key, JWT secret, API secret key),
            Flower's basic auth. A variable already set wins over a file.

database    an explicit URL (AIRFLOW_DB_URL, MLFLOW_DB_URL, MLSTACK_PREDICTION_LOG_URL) wins;
            else NEON_DATABASE_URL set: the same Neon endpoint and credentials, with the
            databases `airflow`, `mlflow` and `mlstack` (create them in the Neon console), and
            sslmode=require unless the URL says otherwise;
            else the compose postgres service with the role/database of the component and its
            password (AIRFLOW_DB_PASSWORD, MLFLOW_DB_PASSWORD, MLSTACK_DB_PASSWORD).
celery      (airflow) broker and result backend when AIRFLOW__CORE__EXECUTOR is CeleryExecutor.
mlflow auth (mlflow) an auth config whose user store is the tracking database
            (MLFLOW_AUTH_CONFIG_PATH), unless MLFLOW_AUTH_CONFIG_PATH is already set.

Only values whose inputs are present are printed; nothing secret is logged.
"""

from __future__ import annotations

import os
import shlex
import sys
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

DRIVER = "postgresql+psycopg"


SECRETS_DIR = Path("/run/secrets")

# What a program reads <- the .secrets name it is made from (compose used to interpolate these).
ALIASES = (
    ("AIRFLOW__CORE__FERNET_KEY", "AIRFLOW_FERNET_KEY"),
    ("AIRFLOW__API_AUTH__JWT_SECRET", "AIRFLOW_JWT_SECRET"),
    ("AIRFLOW__API__SECRET_KEY", "AIRFLOW_API_SECRET_KEY"),
    # Streamlit and the API mount only their scoped pair (the data root, never MLflow's artifacts).
    ("AWS_ACCESS_KEY_ID", "MLSTACK_SERVING_S3_ACCESS_KEY"),
    ("AWS_SECRET_ACCESS_KEY", "MLSTACK_SERVING_S3_SECRET_KEY"),
    ("AWS_ACCESS_KEY_ID", "RUSTFS_ACCESS_KEY"),
    ("AWS_SECRET_ACCESS_KEY", "RUSTFS_SECRET_KEY"),
)


def secret_file(name: str, directory: Path | None = None) -> str:
    """The content of the compose secret ``name`` (stripped), or "" when there is none."""
    try:
        return ((directory or SECRETS_DIR) / name).read_text().strip()
    except OSError:
        return ""


def env(name: str, default: str = "") -> str:
    """A setting: the environment, else the compose secret of that name, else ``default``."""
    return os.environ.get(name, "").strip() or secret_file(name) or default


def from_secrets(directory: Path | None = None) -> dict[str, str]:
    """The variables the secret files and their aliases add to this environment (see the doc)."""
    folder = directory or SECRETS_DIR
    out: dict[str, str] = {}
    names = sorted(p.name for p in folder.iterdir() if p.is_file()) if folder.is_dir() else []
    for name in names:
        if name.isidentifier() and not os.environ.get(name, "").strip():
            value = secret_file(name, folder)
            if value:
                out[name] = value

    def have(name: str) -> str:
        return os.environ.get(name, "").strip() or out.get(name, "")

    for target, source in ALIASES:
        if not have(target) and have(source):
            out[target] = have(source)
    # The client password only where a client username is set (not on the MLflow server itself):
    # the admin's where it is mounted (Airflow, mlflow-users), else the read-only user's (serving).
    client_password = have("MLFLOW_AUTH_ADMIN_PASSWORD") or have("MLFLOW_READER_PASSWORD")
    if have("MLFLOW_TRACKING_USERNAME") and not have("MLFLOW_TRACKING_PASSWORD") and client_password:
        out["MLFLOW_TRACKING_PASSWORD"] = client_password
    if have("MLSTACK_FLOWER_PASSWORD") and not have("AIRFLOW__CELERY__FLOWER_BASIC_AUTH"):
        user = have("MLSTACK_FLOWER_USER") or "admin"
        out["AIRFLOW__CELERY__FLOWER_BASIC_AUTH"] = f"{user}:{have('MLSTACK_FLOWER_PASSWORD')}"
    return out


def local_url(role: str, password: str) -> str:
    host = env("POSTGRES_HOST", "postgres")
    port = env("POSTGRES_PORT", "5432")
    return f"{DRIVER}://{quote(role, safe='')}:{quote(password, safe='')}@{host}:{port}/{role}"


def neon_url(neon: str, database: str) -> str:
    parts = urlsplit(neon)
    query = dict(parse_qsl(parts.query))
    query.setdefault("sslmode", "require")
    return urlunsplit((DRIVER, parts.netloc, f"/{database}", urlencode(query), ""))


def database_url(component: str, explicit_var: str, password_var: str) -> str | None:
    if env(explicit_var):
        return env(explicit_var)
    if env("NEON_DATABASE_URL"):
        return neon_url(env("NEON_DATABASE_URL"), component)
    if env(password_var):
        return local_url(component, env(password_var))
    return None


def mlflow_auth_config(database: str) -> str:
    """Write the basic-auth config (users live in the tracking database); return its path."""
    path = Path(env("MLFLOW_AUTH_CONFIG_DIR", "/tmp")) / "mlflow-basic-auth.ini"  # noqa: S108
    admin = env("MLFLOW_AUTH_ADMIN_USERNAME", "admin")
    lines = [
        "[mlflow]",
        f"default_permission = {env('MLFLOW_AUTH_DEFAULT_PERMISSION', 'READ')}",
        # configparser interpolates %: URL-encoded passwords need %% in the file
        f"database_uri = {database.replace('%', '%%')}",
        f"admin_username = {admin}",
        "authorization_function = mlflow.server.auth:authenticate_request_basic_auth",
        # A verified credential is cached for this long (0 = check every request). MLflow
        # verifies each request's password with scrypt, 0.1-1.5 s of CPU here, and a DAG run
        # makes over a hundred calls. With one worker per container a password change through
        # the API takes effect at once; out-of-band changes after at most this TTL.
        f"auth_cache_ttl_seconds = {env('MLFLOW_AUTH_CACHE_TTL_SECONDS', '60')}",
    ]
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return str(path)


def derive(component: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if component in ("airflow", "streamlit"):
        url = database_url("mlstack", "MLSTACK_PREDICTION_LOG_URL", "MLSTACK_DB_PASSWORD")
        if url:
            out["MLSTACK_PREDICTION_LOG_URL"] = url
    if component == "airflow":
        url = database_url("airflow", "AIRFLOW_DB_URL", "AIRFLOW_DB_PASSWORD")
        if url:
            out["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN"] = url
            # Airflow would derive postgresql+asyncpg (not installed); psycopg 3 is async too.
            out["AIRFLOW__DATABASE__SQL_ALCHEMY_CONN_ASYNC"] = url
            if env("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor":
                out.setdefault("AIRFLOW__CELERY__RESULT_BACKEND", f"db+{url}")
        if env("AIRFLOW__CORE__EXECUTOR") == "CeleryExecutor":
            out["AIRFLOW__CELERY__BROKER_URL"] = env("AIRFLOW__CELERY__BROKER_URL", "redis://redis:6379/0")
    if component == "mlflow":
        url = database_url("mlflow", "MLFLOW_DB_URL", "MLFLOW_DB_PASSWORD")
        if url:
            out["MLFLOW_BACKEND_STORE_URI"] = url
            if not env("MLFLOW_AUTH_CONFIG_PATH"):
                out["MLFLOW_AUTH_CONFIG_PATH"] = mlflow_auth_config(url)
    return out


def main(argv: list[str]) -> int:
    args = list(argv)
    with_secrets = bool(args) and args[0] == "secrets"
    if with_secrets:
        args.pop(0)
    if (
        len(args) > 1
        or (args and args[0] not in {"airflow", "mlflow", "streamlit"})
        or not (args or with_secrets)
    ):
        print(__doc__, file=sys.stderr)
        return 2
    exports = from_secrets() if with_secrets else {}
    os.environ.update(exports)  # what derive() reads next
    if args:
        exports.update(derive(args[0]))
    for name, value in exports.items():
        print(f"export {name}={shlex.quote(value)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
