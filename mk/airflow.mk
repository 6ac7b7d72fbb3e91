# Airflow: the native services, triggers, DAG tests (`make demo` runs the DAG on embedded defaults).
#
#   make airflow-up      api-server, scheduler, dag-processor, triggerer on PostgreSQL (127.0.0.1:8080)
#   make trigger-api     trigger AIRFLOW_DAG through REST API v2 and wait (CONF='{"source": "..."}');
#                        MLSTACK_AIRFLOW_URL: the native services or the stack (Jenkins' Retrain stage)
#   make airflow-down    stop them (by PID; checks that no process is left)
#
# The admin password is MLSTACK_AIRFLOW_ADMIN_PASSWORD in .secrets (with MLSTACK_ENV=production, up
# first runs the secrets check the containers run and refuses a default one). State, logs and the local
# PostgreSQL cluster live in $(MLSTACK_HOME)/airflow-services (default .mlstack/airflow-services).
# Each target is one `mlstack airflow ...` command (`mlstack airflow --help`).

AIRFLOW_SERVICES := $(BIN)/mlstack airflow services
AIRFLOW_DAG ?= training_pipeline
CONF ?= {}

##@ Airflow
.PHONY: airflow-up
airflow-up: setup ## Start Airflow (api-server, scheduler, dag-processor, triggerer) on PostgreSQL, wait until healthy
	$(AIRFLOW_SERVICES) up

.PHONY: airflow-down
airflow-down: setup ## Stop the Airflow services started by airflow-up (no process left)
	$(AIRFLOW_SERVICES) down

.PHONY: airflow-status
airflow-status: setup ## PIDs and health of the Airflow services
	$(AIRFLOW_SERVICES) status

.PHONY: trigger-api
trigger-api: setup ## Trigger AIRFLOW_DAG through the REST API v2 (CONF=json) and wait (Jenkins Retrain stage)
	$(BIN)/mlstack airflow trigger $(AIRFLOW_DAG) --conf '$(CONF)'

.PHONY: test-dags
test-dags: setup ## DAG tests: DagBag integrity, dag.test() runs, alert mails (aiosmtpd)
	$(BIN)/pytest tests/dags tests/integration/test_airflow_alerts.py $(PYTEST_ARGS)

.PHONY: test-airflow-live
test-airflow-live: setup system-deps ## Live Airflow services + MLflow server: CLI and REST triggers (slow)
	$(BIN)/pytest tests/integration/test_airflow_services.py $(PYTEST_ARGS)

.PHONY: bench-airflow
bench-airflow: setup system-deps ## Trigger-to-success of the DAG on live services vs in-process `mlstack run`
	$(BIN)/python -m benchmarks.airflow_compare

.PHONY: airflow-purge
airflow-purge: setup ## Stop the Airflow services and delete their state (config, logs, local PostgreSQL), after confirmation
	$(AIRFLOW_SERVICES) purge
