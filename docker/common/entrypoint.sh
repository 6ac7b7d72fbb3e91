#!/usr/bin/env bash
# Entrypoint of the mlstack images: ENTRYPOINT ["/opt/mlstack/entrypoint.sh"], MLSTACK_COMPONENT
# set by the image (airflow|mlflow|streamlit).
#   1. airflow only: started as root (airflow-init, as in the official compose), prepares the
#      logs volume for AIRFLOW_UID and re-runs itself as that user; an arbitrary AIRFLOW_UID gets
#      a passwd entry;
#   2. makes the compose secrets (/run/secrets/<NAME> files) variables of this process tree, and
#      the names programs read from them (mlstack_env.py secrets): none is in `docker inspect`;
#   3. refuses to start on an empty, default or weak secret, by `python -m mlstack.secrets_check`
#      for the components in MLSTACK_STARTUP_CHECK (set by each image, narrowed by compose where a
#      service holds fewer secrets); MLSTACK_ENV decides (compose: production; only an explicit
#      development reports without refusing). The MLflow image carries that one module alone in
#      /opt/mlstack/lib;
#   4. derives the connection settings from the .env/.secrets variables (env.sh ->
#      mlstack_env.py: local services or NeonDB, Celery broker, MLflow auth config), never
#      printing them; empty optional settings are unset;
#   5. execs the command. (Airflow's users live in its database: FabAuthManager, created by
#      airflow-init; SimpleAuthManager is for the native development services only.)
set -euo pipefail

component="${MLSTACK_COMPONENT:?the image sets MLSTACK_COMPONENT}"

if [ "$component" = airflow ] && [ "$(id -u)" = 0 ] && [ "${AIRFLOW_UID:-50000}" != 0 ]; then
  uid="${AIRFLOW_UID:-50000}"
  mkdir -p "${AIRFLOW_HOME}/logs"
  chown -R "${uid}:0" "${AIRFLOW_HOME}/logs"
  chmod -R g+rwX "${AIRFLOW_HOME}/logs"
  exec setpriv --reuid="$uid" --regid=0 --clear-groups "$0" "$@"
fi

if ! whoami >/dev/null 2>&1 && [ -w /etc/passwd ]; then
  echo "${USER_NAME:-default}:x:$(id -u):0:default user:${HOME:-/tmp}:/sbin/nologin" >>/etc/passwd
fi

eval "$(/opt/venv/bin/python /opt/mlstack/mlstack_env.py secrets)"

# Before env.sh: the check sees what compose passed, not the URLs derived from it.
if [ -n "${MLSTACK_STARTUP_CHECK:-}" ]; then
  # shellcheck disable=SC2086 # a list of component names
  PYTHONPATH=/opt/mlstack/lib /opt/venv/bin/python -m mlstack.secrets_check $MLSTACK_STARTUP_CHECK
fi

# shellcheck source=/dev/null
. /opt/mlstack/env.sh

if [ "$#" -eq 0 ]; then
  set -- bash
fi
exec "$@"
