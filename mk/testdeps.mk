# System (Debian) packages the test suite needs. Idempotent: a no-op in well under a second when
# everything is present. As root it installs what is missing with apt-get; otherwise it only
# prints the missing packages and fails, so `make test` does not run half-equipped.
#
#   postgresql       throwaway Postgres clusters (initdb/pg_ctl) for MLflow/Airflow fixtures
#   chromium(-driver) headless browser tests
#   redis-server     Celery executor tests
#   debootstrap      locally built Debian base images (no registry here)
#   docker.io        dockerd for booting the compose stack
#   prometheus(-alertmanager) promtool and amtool: the monitoring profile's config and rules

TEST_SYSTEM_PACKAGES := chromium chromium-driver redis-server debootstrap docker.io prometheus prometheus-alertmanager

##@ Test dependencies
.PHONY: system-deps
system-deps: ## Install the Debian packages the tests need (apt-get, only what is missing; root only)
	@set -euo pipefail
	missing=""
	for pkg in $(TEST_SYSTEM_PACKAGES); do
	  if ! dpkg-query -W -f='$${Status}' "$$pkg" 2>/dev/null | grep -q 'ok installed'; then
	    missing="$$missing $$pkg"
	  fi
	done
	# Postgres: the binaries may come from any postgresql-NN package or be on PATH already.
	if ! command -v initdb >/dev/null 2>&1 && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
	  missing="$$missing postgresql"
	fi
	if [ -z "$$missing" ]; then
	  echo "system-deps: all present ($(TEST_SYSTEM_PACKAGES) postgresql)"
	  exit 0
	fi
	if [ "$$(id -u)" != "0" ]; then
	  echo "system-deps: missing Debian packages:$$missing" >&2
	  echo "system-deps: run as root, or: sudo apt-get install -y$$missing" >&2
	  exit 1
	fi
	echo "system-deps: installing:$$missing"
	export DEBIAN_FRONTEND=noninteractive
	# Another apt-get may be running (other setup steps): wait for its lock instead of failing.
	apt_opts="-o DPkg::Lock::Timeout=600"
	apt-get $$apt_opts update -qq
	apt-get $$apt_opts install -y -qq$$missing >/dev/null
	echo "system-deps: installed:$$missing"
