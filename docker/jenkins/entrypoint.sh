#!/usr/bin/env bash
# Entrypoint of the mlstack Jenkins image: the secrets check (mlstack.secrets_check, carried alone
# in /opt/mlstack/lib; secrets arrive as /run/secrets files), then the image's own jenkins.sh.
# MLSTACK_ENV decides: compose sets production; only an explicit development reports without refusing.
set -euo pipefail
# shellcheck disable=SC2086 # a list of component names
PYTHONPATH=/opt/mlstack/lib python3 -m mlstack.secrets_check ${MLSTACK_STARTUP_CHECK:-jenkins}
exec /usr/local/bin/jenkins.sh "$@"
