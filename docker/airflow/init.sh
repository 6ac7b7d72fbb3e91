#!/usr/bin/env bash
# airflow-init: one-shot job before the Airflow services start (compose waits for it to
# complete successfully). Checks the secrets are set, migrates the metadata database (with the
# FAB auth manager's tables), creates or updates the admin and viewer users (users.py).
set -euo pipefail

missing=()
for var in AIRFLOW__CORE__FERNET_KEY AIRFLOW__API_AUTH__JWT_SECRET AIRFLOW__API__SECRET_KEY \
  MLSTACK_AIRFLOW_ADMIN_PASSWORD MLSTACK_AIRFLOW_VIEWER_PASSWORD AIRFLOW__DATABASE__SQL_ALCHEMY_CONN; do
  [ -n "${!var:-}" ] || missing+=("$var")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "airflow-init: not set: ${missing[*]} (fill in .secrets from .secrets.example)" >&2
  exit 1
fi

echo "airflow-init: running as uid $(id -u), AIRFLOW_HOME=${AIRFLOW_HOME}"
airflow db migrate
python /opt/mlstack/airflow-users.py
airflow version
echo "airflow-init: done"
