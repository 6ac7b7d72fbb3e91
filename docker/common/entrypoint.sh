#!/usr/bin/env bash
# Entrypoint of the mlstack images: ENTRYPOINT ["/opt/mlstack/entrypoint.sh", "<component>"].
#   1. derives connection settings from .env/.secrets variables (mlstack_env.py: local services
#      or NeonDB, Celery broker, MLflow auth config) without printing them; empty settings are
#      unset;
#   2. airflow only: started as root (airflow-init, as in the official compose), prepares the
#      logs volume for AIRFLOW_UID and re-runs itself as that user; an arbitrary AIRFLOW_UID gets
#      a passwd entry; the api-server's SimpleAuthManager password file is written from
#      MLSTACK_AIRFLOW_ADMIN_PASSWORD;
#   3. execs the command.
set -euo pipefail

component="${1:?usage: entrypoint.sh airflow|mlflow|streamlit [command...]}"
shift

if [ "$component" = airflow ] && [ "$(id -u)" = 0 ] && [ "${AIRFLOW_UID:-50000}" != 0 ]; then
  uid="${AIRFLOW_UID:-50000}"
  mkdir -p "${AIRFLOW_HOME}/logs"
  chown -R "${uid}:0" "${AIRFLOW_HOME}/logs"
  chmod -R g+rwX "${AIRFLOW_HOME}/logs"
  exec setpriv --reuid="$uid" --regid=0 --clear-groups "$0" "$component" "$@"
fi

if ! whoami >/dev/null 2>&1 && [ -w /etc/passwd ]; then
  echo "${USER_NAME:-default}:x:$(id -u):0:default user:${HOME:-/tmp}:/sbin/nologin" >>/etc/passwd
fi

eval "$(python /opt/mlstack/mlstack_env.py "$component")"

# Compose passes optional settings as empty strings; to the applications empty must mean unset
# (e.g. MLSTACK_MODEL_NAME= -> the spec's default, MLSTACK_S3_ENDPOINT_URL= -> AWS S3).
for name in $(compgen -e); do
  case "$name" in
    MLSTACK_* | MLFLOW_* | AWS_* | NEON_* | AIRFLOW_DB_URL) [ -n "${!name}" ] || unset "$name" ;;
  esac
done

if [ "$component" = airflow ] && [ -n "${MLSTACK_AIRFLOW_ADMIN_PASSWORD:-}" ]; then
  export AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE="${AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE:-${AIRFLOW_HOME}/simple_auth_manager_passwords.json}"
  python - <<'PY'
import json, os
path = os.environ["AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_PASSWORDS_FILE"]
user = os.environ.get("MLSTACK_AIRFLOW_ADMIN_USER") or "admin"
fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
with os.fdopen(fd, "w") as fh:
    json.dump({user: os.environ["MLSTACK_AIRFLOW_ADMIN_PASSWORD"]}, fh)
PY
fi

if [ "$#" -eq 0 ]; then
  set -- bash
fi
exec "$@"
