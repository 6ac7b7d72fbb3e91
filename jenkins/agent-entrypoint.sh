#!/bin/sh
# Entry point of the mlstack Jenkins agent (Dockerfile.jenkins-agent): wait until the controller
# has published this agent's inbound secret (jenkins/init.groovy.d/agent-secret.groovy writes it
# into the volume shared at /run/jenkins-agent), then start upstream's jenkins-agent with it.
# The secret goes on the command line, not into the environment, so `sh` steps do not inherit it
# as a variable (a build on this agent runs as the same user and could still read the file: the
# secret only lets a process connect as this agent, it opens nothing on the controller).
set -eu
secret_file="${MLSTACK_JENKINS_AGENT_SECRET_FILE:-/run/jenkins-agent/secret}"
wait_s="${MLSTACK_JENKINS_AGENT_WAIT:-600}"
waited=0
while [ ! -s "$secret_file" ]; do
  if [ "$waited" -ge "$wait_s" ]; then
    echo "mlstack-agent: no agent secret in $secret_file after ${wait_s}s (is the jenkins service up?)" >&2
    exit 1
  fi
  sleep 2
  waited=$((waited + 2))
done
secret="$(cat "$secret_file")"
exec /usr/local/bin/jenkins-agent -secret "$secret" "$@"
