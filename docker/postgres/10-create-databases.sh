#!/usr/bin/env bash
# Runs once, on the first start of the postgres container (empty volume), from
# /docker-entrypoint-initdb.d. One server, one database and one owner role per component:
#   airflow  Airflow metadata          (AIRFLOW_DB_PASSWORD)
#   mlflow   MLflow tracking + auth    (MLFLOW_DB_PASSWORD)
#   mlstack  prediction log            (MLSTACK_DB_PASSWORD)
# and one read-only role, mlstack_reader (MLSTACK_DB_READER_PASSWORD), for a DAG run that reads a
# table of the mlstack database as a source: SELECT only, every transaction read-only.
# Passwords come from the compose secrets (/run/secrets/<NAME>, made from .secrets by `make
# secrets`), or the environment, and reach SQL as psql variables, never as text pasted into a
# statement.
set -euo pipefail

secret() {
  local name="$1"
  if [ -n "${!name:-}" ]; then
    printf '%s' "${!name}"
  elif [ -s "/run/secrets/${name}" ]; then
    printf '%s' "$(<"/run/secrets/${name}")"
  fi
}

create() {
  local name="$1" password="$2"
  if [ -z "$password" ]; then
    echo "10-create-databases: no password for role ${name}" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname postgres \
    --set name="$name" --set pw="$password" <<'SQL'
SELECT format('CREATE ROLE %I LOGIN PASSWORD %L', :'name', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = :'name') \gexec
SELECT format('CREATE DATABASE %I OWNER %I', :'name', :'name')
WHERE NOT EXISTS (SELECT 1 FROM pg_database WHERE datname = :'name') \gexec
SELECT format('REVOKE ALL ON DATABASE %I FROM PUBLIC', :'name') \gexec
SQL
  echo "10-create-databases: database ${name} owned by role ${name}"
}

# The read-only role: CONNECT and SELECT on what the owner mlstack creates in schema public (now
# and later), read-only transactions by default; no CREATE, no write.
reader() {
  local password="$1"
  if [ -z "$password" ]; then
    echo "10-create-databases: no password for role mlstack_reader" >&2
    exit 1
  fi
  psql -v ON_ERROR_STOP=1 --no-psqlrc --username "$POSTGRES_USER" --dbname mlstack \
    --set pw="$password" <<'SQL'
SELECT format('CREATE ROLE mlstack_reader LOGIN PASSWORD %L', :'pw')
WHERE NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'mlstack_reader') \gexec
ALTER ROLE mlstack_reader SET default_transaction_read_only = on;
GRANT CONNECT ON DATABASE mlstack TO mlstack_reader;
GRANT USAGE ON SCHEMA public TO mlstack_reader;
GRANT SELECT ON ALL TABLES IN SCHEMA public TO mlstack_reader;
ALTER DEFAULT PRIVILEGES FOR ROLE mlstack IN SCHEMA public GRANT SELECT ON TABLES TO mlstack_reader;
SQL
  echo "10-create-databases: read-only role mlstack_reader on database mlstack"
}

create airflow "$(secret AIRFLOW_DB_PASSWORD)"
create mlflow "$(secret MLFLOW_DB_PASSWORD)"
create mlstack "$(secret MLSTACK_DB_PASSWORD)"
reader "$(secret MLSTACK_DB_READER_PASSWORD)"
