# The model-quality loop on embedded defaults: batch inference through the real DAG, ground truth
# for its predictions, live quality beside the offline metric.

BATCH_DEMO_DIR ?= $(or $(MLSTACK_HOME),.mlstack)/data/incoming/batch-demo
BATCH_DEMO_ROWS ?= 2000
BATCH_DEMO_SEED ?= 21

##@ Model quality
.PHONY: batch-demo
batch-demo: setup ## Batch inference end to end: batch -> batch_inference DAG (Parquet, report, Asset) -> feedback -> live quality
	@set -euo pipefail
	export PYTHONWARNINGS=ignore
	mkdir -p "$(BATCH_DEMO_DIR)"
	batch="$$(realpath -m "$(BATCH_DEMO_DIR)/batch-seed$(BATCH_DEMO_SEED).csv")"
	echo "== 1. a champion to score with"
	$(BIN)/mlstack drift ensure-champion
	echo "== 2. a batch of $(BATCH_DEMO_ROWS) rows (true species kept, 2 rows broken on purpose): $$batch"
	$(BIN)/mlstack generate --rows $(BATCH_DEMO_ROWS) --seed $(BATCH_DEMO_SEED) --out "$$batch"
	$(BIN)/python -c "import pandas as pd, sys; f = pd.read_csv(sys.argv[1]); f.loc[3, 'island'] = 'Atlantis'; f.loc[7, 'year'] = 1890; f.to_csv(sys.argv[1], index=False)" "$$batch"
	echo "== 3. the batch_inference DAG on embedded defaults (airflow dags test batch_inference)"
	eval "$$($(BIN)/mlstack drift env)"
	out="batch-demo-$$(date -u +%Y%m%dT%H%M%S)"
	$(BIN)/airflow dags test batch_inference -c "{\"source\": \"$$batch\", \"output\": \"$$out\"}" > "$(BATCH_DEMO_DIR)/batch_inference.log" 2>&1 \
	  || { tail -n 40 "$(BATCH_DEMO_DIR)/batch_inference.log"; exit 1; }
	data_root="$$($(BIN)/mlstack config --json | $(BIN)/python -c 'import json,sys; print(json.load(sys.stdin)["data_root"])')"
	folder="$$data_root/batch-predictions/$$out"
	$(BIN)/python -c "import json, sys; r = json.load(open(sys.argv[1])); print({k: r[k] for k in ('rows', 'scored', 'invalid', 'version', 'output_uri', 'invalid_rows_uri', 'shadow')}); [print('  refused row', x['row'], '; '.join(x['reasons'])) for x in r['invalid_rows']]" "$$folder/report.json"
	echo "== 4. ground truth for the scored rows (the batch's own species column): mlstack feedback"
	$(BIN)/mlstack feedback "$$folder/predictions.parquet"
	echo "== 5. live quality of the champion beside its offline metric"
	$(BIN)/mlstack quality
