#!/usr/bin/env bash
# /opt/mlstack/bin/<tool> -> /opt/venv/bin/<tool> with the stack's derived settings (env.sh).
set -euo pipefail
# shellcheck source=/dev/null
. /opt/mlstack/env.sh
exec "/opt/venv/bin/$(basename "$0")" "$@"
