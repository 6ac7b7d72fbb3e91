#!/usr/bin/env bash
# make trigger: run a DAG in the running stack with the Airflow CLI and wait for its result.
#
#   scripts/stack/trigger.sh [DAG_ID]     (default training_pipeline)
#
# Unpauses the DAG (new DAGs start paused), triggers a run with its own run id, then polls the
# run until it succeeds (exit 0) or fails (exit 1). MLSTACK_TRIGGER_WAIT=0 returns right after
# triggering; MLSTACK_TRIGGER_TIMEOUT (s, default 1800) bounds the wait. COMPOSE is the compose
# command with its env files (the Makefile passes it).
set -euo pipefail

DAG="${1:-training_pipeline}"
COMPOSE="${COMPOSE:-docker compose --env-file .env --env-file .secrets}"
TIMEOUT="${MLSTACK_TRIGGER_TIMEOUT:-1800}"
WAIT="${MLSTACK_TRIGGER_WAIT:-1}"
SERVICE="${MLSTACK_TRIGGER_SERVICE:-airflow-scheduler}"
run_id="manual__make_trigger_$(date -u +%Y%m%dT%H%M%SZ)"

airflow() { $COMPOSE exec -T "$SERVICE" airflow "$@"; }
log() { printf '[trigger] %s\n' "$*" >&2; }

start=$(date +%s)
# A freshly started stack may not have parsed the DAG file yet.
until airflow dags unpause "$DAG" >/dev/null 2>&1; do
  if [ $(($(date +%s) - start)) -ge 180 ]; then
    log "DAG ${DAG} not found after 180s; import errors:"
    airflow dags list-import-errors >&2 || true
    exit 1
  fi
  sleep 5
done
airflow dags trigger "$DAG" --run-id "$run_id" >/dev/null
log "triggered ${DAG} run ${run_id}"
[ "$WAIT" = 1 ] || exit 0

state=""
while :; do
  state="$(airflow dags list-runs "$DAG" -o json 2>/dev/null | python3 -c '
import json, sys
runs = []
for line in sys.stdin.read().splitlines():  # log lines may precede the JSON document
    if line.startswith("[{") or line.strip() == "[]":
        runs = json.loads(line)
print(next((r["state"] for r in runs if r.get("run_id") == sys.argv[1]), "unknown"))
' "$run_id" || echo unknown)"
  case "$state" in
    success)
      log "${run_id}: success after $(($(date +%s) - start))s"
      exit 0
      ;;
    failed)
      log "${run_id}: FAILED after $(($(date +%s) - start))s (see the Airflow UI or: make logs)"
      exit 1
      ;;
  esac
  if [ $(($(date +%s) - start)) -ge "$TIMEOUT" ]; then
    log "${run_id}: still ${state} after ${TIMEOUT}s"
    exit 1
  fi
  sleep 10
done
