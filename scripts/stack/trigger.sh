#!/usr/bin/env bash
# make trigger: run a DAG in the running stack and wait for its result.
#
#   scripts/stack/trigger.sh [DAG_ID]     (default training_pipeline)
#
# `mlstack airflow trigger` inside the scheduler container (the REST API v2 client, with the
# stack's own MLSTACK_AIRFLOW_URL and admin login): waits until the DAG is parsed, unpauses it,
# triggers a run, then polls it until it succeeds (exit 0) or fails (exit 1).
# MLSTACK_TRIGGER_WAIT=0 returns right after triggering; MLSTACK_TRIGGER_TIMEOUT (s, default 1800)
# bounds the wait. CONF is the run conf, a JSON object (the DAG's params; default {}). COMPOSE is
# the compose command with its env files (the Makefile passes it).
set -euo pipefail

DAG="${1:-training_pipeline}"
COMPOSE="${COMPOSE:-docker compose --env-file .env --env-file .secrets}"
TIMEOUT="${MLSTACK_TRIGGER_TIMEOUT:-1800}"
SERVICE="${MLSTACK_TRIGGER_SERVICE:-airflow-scheduler}"
wait_flag=--wait
[ "${MLSTACK_TRIGGER_WAIT:-1}" = 1 ] || wait_flag=--no-wait
conf="${CONF:-}"
[ -n "$conf" ] || conf='{}'

# shellcheck disable=SC2086 # COMPOSE is a command line
exec $COMPOSE exec -T "$SERVICE" mlstack airflow trigger "$DAG" --conf "$conf" "$wait_flag" --timeout "$TIMEOUT"
