# Airflow: the training DAG on embedded defaults, the native services, triggers, DAG tests.
#
#   make demo-dag        the lifecycle through the real DAG (airflow dag.test, SQLite), + a prediction
#   make airflow-up      api-server, scheduler, dag-processor, triggerer on PostgreSQL (127.0.0.1:8080)
#   make airflow-trigger `airflow dags trigger training_pipeline` and wait (CONF='{"source": "..."}')
#   make airflow-trigger-api   the same through REST API v2 (POST /auth/token, POST .../dagRuns)
#   make airflow-down    stop them (by PID; checks that no process is left)
#
# The admin password is MLSTACK_AIRFLOW_ADMIN_PASSWORD in .secrets. State, logs and the local
# PostgreSQL cluster live in $(MLSTACK_HOME)/airflow-services (default .mlstack/airflow-services).

AIRFLOW_SERVICES := $(BIN)/python scripts/airflow/services.py
AIRFLOW_DAG ?= training_pipeline
CONF ?= {}

##@ Airflow
.PHONY: demo-dag
demo-dag: setup ## The lifecycle through the training DAG (airflow dag.test on SQLite), then one prediction
	$(BIN)/python -m mlstack.orchestration demo
	$(BIN)/mlstack predict --example

.PHONY: airflow-up
airflow-up: setup ## Start Airflow (api-server, scheduler, dag-processor, triggerer) on PostgreSQL, wait until healthy
	$(AIRFLOW_SERVICES) up

.PHONY: airflow-down
airflow-down: setup ## Stop the Airflow services started by airflow-up (no process left)
	$(AIRFLOW_SERVICES) down

.PHONY: airflow-status
airflow-status: setup ## PIDs and health of the Airflow services
	$(AIRFLOW_SERVICES) status

.PHONY: airflow-trigger
airflow-trigger: setup ## Trigger AIRFLOW_DAG with `airflow dags trigger` (CONF=json) and wait for the result
	$(AIRFLOW_SERVICES) trigger $(AIRFLOW_DAG) --conf '$(CONF)'

.PHONY: airflow-trigger-api
airflow-trigger-api: setup ## Trigger AIRFLOW_DAG through REST API v2 (CONF=json) and wait for the result
	$(BIN)/python -m mlstack.airflow_client trigger $(AIRFLOW_DAG) --conf '$(CONF)'

.PHONY: test-dags
test-dags: setup ## DAG tests: DagBag integrity, dag.test() runs, alert mails (aiosmtpd)
	$(BIN)/pytest tests/dags tests/integration/test_airflow_alerts.py $(PYTEST_ARGS)

.PHONY: test-airflow-live
test-airflow-live: setup system-deps ## Live Airflow services + MLflow server: CLI and REST triggers (slow)
	$(BIN)/pytest tests/integration/test_airflow_services.py $(PYTEST_ARGS)

.PHONY: bench-airflow
bench-airflow: setup system-deps ## Trigger-to-success of the DAG on live services vs in-process `mlstack run`
	$(BIN)/python scripts/airflow/bench.py

.PHONY: airflow-purge
airflow-purge: setup ## Stop the Airflow services and delete their state (config, logs, local PostgreSQL)
	$(AIRFLOW_SERVICES) purge
