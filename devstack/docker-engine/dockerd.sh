#!/usr/bin/env bash
# A private Docker engine for the mlstack compose stack (no systemd, no registry needed).
#
#   devstack/docker-engine/dockerd.sh start    start Debian's dockerd (installs docker.io if absent), wait for it
#   devstack/docker-engine/dockerd.sh stop     stop the engine this script started (by its PID)
#   devstack/docker-engine/dockerd.sh status   exit 0 when the engine answers
#   devstack/docker-engine/dockerd.sh env      print `export DOCKER_HOST=...` for callers: eval "$(... env)"
#
# The data root persists between runs (/var/lib/mlstack-docker) so the stand-in base images and
# the build cache survive: a second boot only rebuilds what changed.
# Override with MLSTACK_DOCKER_SOCK, MLSTACK_DOCKER_DATA_ROOT, MLSTACK_DOCKER_EXEC_ROOT.
set -euo pipefail

SOCK="${MLSTACK_DOCKER_SOCK:-/run/mlstack-docker.sock}"
DATA_ROOT="${MLSTACK_DOCKER_DATA_ROOT:-/var/lib/mlstack-docker}"
EXEC_ROOT="${MLSTACK_DOCKER_EXEC_ROOT:-/run/mlstack-docker}"
PIDFILE="${EXEC_ROOT}.pid"
LOGFILE="${DATA_ROOT}.log"
START_TIMEOUT="${MLSTACK_DOCKER_START_TIMEOUT:-90}"
export DOCKER_HOST="unix://${SOCK}"

log() { printf '[dockerd.sh] %s\n' "$*" >&2; }

answers() { docker info --format '{{.ServerVersion}}' >/dev/null 2>&1; }

ensure_installed() {
  if command -v dockerd >/dev/null 2>&1 && command -v docker >/dev/null 2>&1; then
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "dockerd is not installed and installing it needs root (apt-get install docker.io)"
    exit 1
  fi
  log "installing Debian's docker.io"
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y --no-install-recommends docker.io >/dev/null ||
    { apt-get update >/dev/null && apt-get install -y --no-install-recommends docker.io >/dev/null; }
}

pid_alive() { [ -s "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

start() {
  if answers; then
    log "engine already answers on ${DOCKER_HOST}"
    return 0
  fi
  if [ "$(id -u)" -ne 0 ]; then
    log "dockerd must be started as root"
    exit 1
  fi
  ensure_installed
  if pid_alive; then
    log "dockerd (pid $(cat "$PIDFILE")) is running but does not answer yet; waiting"
  else
    rm -f "$PIDFILE" "$SOCK"
    mkdir -p "$DATA_ROOT" "$EXEC_ROOT" "$(dirname "$SOCK")"
    log "starting dockerd: ${DOCKER_HOST}, data root ${DATA_ROOT}, log ${LOGFILE}"
    # setsid: the engine must outlive the shell (and the pytest process) that started it.
    setsid dockerd \
      --host "${DOCKER_HOST}" \
      --data-root "$DATA_ROOT" \
      --exec-root "$EXEC_ROOT" \
      --pidfile "$PIDFILE" \
      --storage-driver overlay2 \
      --exec-opt native.cgroupdriver=cgroupfs \
      </dev/null >>"$LOGFILE" 2>&1 &
  fi
  local waited=0
  until answers; do
    if [ "$waited" -ge "$START_TIMEOUT" ]; then
      log "dockerd did not answer within ${START_TIMEOUT}s; last log lines:"
      tail -n 30 "$LOGFILE" >&2 || true
      exit 1
    fi
    sleep 1
    waited=$((waited + 1))
  done
  log "engine ready after ${waited}s: $(docker info --format 'server {{.ServerVersion}}, {{.Driver}}, {{.CgroupDriver}}')"
}

stop() {
  if ! pid_alive; then
    if answers; then
      log "an engine answers on ${DOCKER_HOST} but was not started by this script; leaving it"
    else
      log "not running"
    fi
    rm -f "$PIDFILE"
    return 0
  fi
  local pid
  pid="$(cat "$PIDFILE")"
  log "stopping dockerd pid ${pid}"
  kill -TERM "$pid"
  local waited=0
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$waited" -ge 60 ]; then
      log "dockerd pid ${pid} ignored SIGTERM for 60s; sending SIGKILL"
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 1
    waited=$((waited + 1))
  done
  rm -f "$PIDFILE"
  log "stopped after ${waited}s"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status)
    if answers; then
      echo "running: ${DOCKER_HOST}"
    else
      echo "not running: ${DOCKER_HOST}"
      exit 1
    fi
    ;;
  env) echo "export DOCKER_HOST=${DOCKER_HOST}" ;;
  *)
    echo "usage: $0 start|stop|status|env" >&2
    exit 2
    ;;
esac
