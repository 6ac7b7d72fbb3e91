# mlstack — make help lists every target.
SHELL := /bin/bash
.DEFAULT_GOAL := help
.ONESHELL:

PYTHON ?= python3
UV_VERSION := 0.13.9
# A fresh machine has only Python: install uv into .tools with pip when it is not on PATH.
UV := $(shell command -v uv 2>/dev/null || echo $(CURDIR)/.tools/bin/uv)
VENV := $(CURDIR)/.venv
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export UV_PYTHON_DOWNLOADS := never
PYTEST_ARGS ?=

##@ Getting started
.PHONY: help
help: ## Show this help
	@awk 'BEGIN {FS = ":.*##"} /^##@/ {printf "\n\033[1m%s\033[0m\n", substr($$0, 5)} \
	  /^[a-zA-Z0-9_.-]+:.*##/ {printf "  \033[36m%-20s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

$(CURDIR)/.tools/bin/uv:
	$(PYTHON) -m venv $(CURDIR)/.tools
	$(CURDIR)/.tools/bin/pip install --quiet uv==$(UV_VERSION)

# Bytecode is compiled once here: with PYTHONDONTWRITEBYTECODE set (it is on these machines, as in
# many images) Python never writes .pyc files, so every process would compile every module it
# imports again (`import airflow, mlflow, sklearn, pandas`: 10.5 s of CPU instead of 4.2 s; each
# Airflow service, task and CLI run pays it). Project sources too (their caches are git-ignored).
$(VENV)/.synced: uv.lock pyproject.toml Makefile | $(UV)
	$(UV) sync --frozen --all-extras --compile-bytecode
	$(VENV)/bin/python -m compileall -q -j 0 src dags plugins benchmarks scripts tests streamlit devstack/src >/dev/null
	touch $@

.PHONY: setup
setup: $(VENV)/.synced ## Create .venv from uv.lock (installs uv first if missing)

.PHONY: demo
demo: setup ## The whole lifecycle through the Airflow training DAG on embedded defaults, then one prediction
	@# `airflow dags test` of training_pipeline on SQLite (no server), then models:/<name>@champion answers
	$(BIN)/python -m mlstack.orchestration demo
	$(BIN)/mlstack predict --example

.PHONY: test
test: setup system-deps ## Run the whole test suite (what CI runs)
	@# tests/dags set AIRFLOW_HOME before Airflow is imported: they get a pytest process of their own.
	rc=0
	$(BIN)/pytest tests/dags $(PYTEST_ARGS) || rc=$$?
	$(BIN)/pytest --ignore=tests/dags $(PYTEST_ARGS) || rc=$$?
	exit $$rc

.PHONY: test-unit
test-unit: setup ## Unit tests only (no servers)
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

.PHONY: trigger-api
trigger-api: airflow-trigger-api ## Trigger the training DAG through the Airflow REST API v2 (Jenkins Retrain stage)

.PHONY: lint
lint: setup ## ruff (with Airflow AIR rules)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

.PHONY: fmt
fmt: setup ## Format and auto-fix with ruff
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

.PHONY: lock
lock: | $(UV) ## Re-resolve uv.lock after editing pyproject.toml
	$(UV) lock

.PHONY: clean
clean: ## Remove local state (.mlstack: MLflow stores, snapshots, logs); keeps .venv
	rm -rf .mlstack

# Each area of the platform keeps its targets in mk/<area>.mk.
-include mk/*.mk
