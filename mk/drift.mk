# Drift monitoring: the CI drift check and the end-to-end drift simulation.
#
# drift-check is the CI drift contract (the Jenkinsfile's "Drift check" stage), defined by
# `mlstack drift ci`: the report lands in $(DRIFT_REPORT_DIR)/latest.html (+ latest.json), and the
# check's own exit code in $(DRIFT_REPORT_DIR)/exit-code: 0 = no drift, 3 = drift, 2 = the check
# failed. make itself exits 0 only when there was no drift (make turns any failing recipe into 2).

DRIFT_REPORT_DIR ?= reports/drift
# What to check: a batch URI or predictions:<window>. Empty: a fresh no-drift synthetic batch.
DRIFT_CURRENT ?=
DRIFT_ROWS ?= 500
DRIFT_SEED ?= 7
# The simulation: a seeded synthetic batch with these features drifted (see `mlstack generate --help`).
# Under the data root: a DAG run reads only allowlisted sources (the data root among them).
DRIFT_DEMO_DIR ?= $(or $(MLSTACK_HOME),.mlstack)/data/incoming/drift-demo
DRIFT_DEMO_ROWS ?= 400
DRIFT_DEMO_SEED ?= 11
DRIFT_DEMO_DRIFT ?= --drift bill_length_mm:shift=2 --drift flipper_length_mm:shift=-1.5 \
	--drift body_mass_g:scale=1.8 --drift island:mix=Biscoe:0.1,Dream:0.1,Torgersen:0.8

##@ Drift monitoring
.PHONY: drift-check
drift-check: setup ## Drift of DRIFT_CURRENT (default: a fresh no-drift batch) vs @champion; report in reports/drift/
	$(BIN)/mlstack drift ci --report-dir "$(DRIFT_REPORT_DIR)" --current "$(DRIFT_CURRENT)" \
	  --rows $(DRIFT_ROWS) --seed $(DRIFT_SEED)

.PHONY: drift-demo
drift-demo: setup ## Simulate drift end to end: drifted batch -> drift DAG (alert, trigger) -> retraining -> gate
	@set -euo pipefail
	export PYTHONWARNINGS=ignore
	mkdir -p "$(DRIFT_DEMO_DIR)"
	batch="$$(realpath -m "$(DRIFT_DEMO_DIR)/drifted-seed$(DRIFT_DEMO_SEED).csv")"
	echo "== 1. a champion to compare with"
	$(BIN)/mlstack drift ensure-champion
	echo "== 2. a drifted synthetic batch: $$batch"
	$(BIN)/mlstack generate --rows $(DRIFT_DEMO_ROWS) --seed $(DRIFT_DEMO_SEED) $(DRIFT_DEMO_DRIFT) --out "$$batch"
	echo "== 3. the drift DAG on embedded defaults (airflow dags test drift_monitor)"
	eval "$$($(BIN)/mlstack drift env)"
	$(BIN)/airflow dags test drift_monitor -c "{\"current\": \"$$batch\"}" > "$(DRIFT_DEMO_DIR)/drift_monitor.log" 2>&1 \
	  || { tail -n 40 "$(DRIFT_DEMO_DIR)/drift_monitor.log"; exit 1; }
	$(BIN)/mlstack drift latest
	grep -hoE "alert (mail sent to .*|not mailed: .*)" "$(DRIFT_DEMO_DIR)/drift_monitor.log" | head -n 1 || true
	echo "== 4. the retraining it triggered (no scheduler in embedded mode: run the queued run here)"
	$(BIN)/mlstack drift run-triggered
	echo "== 5. the registry after the gate's decision"
	$(BIN)/mlstack models
