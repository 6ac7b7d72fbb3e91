# MLflow's own UI on this machine, for the store the CLI uses (the embedded SQLite store that
# `make demo` fills, or MLFLOW_TRACKING_URI / MLSTACK_HOME from the environment, .env, .secrets).

MLFLOW_UI_PORT ?= 5000

##@ MLflow
.PHONY: mlflow-ui
mlflow-ui: setup ## MLflow's UI for the CLI's store on http://127.0.0.1:5000 (MLFLOW_UI_PORT=...; Ctrl-C stops it)
	@set -euo pipefail
	uri="$$($(BIN)/python -c 'from mlstack.config import load_settings; print(load_settings().resolved_tracking_uri)')"
	case "$$uri" in http://*|https://*) echo "the tracking store is a server: open $$uri"; exit 0 ;; esac
	echo "MLflow UI on http://127.0.0.1:$(MLFLOW_UI_PORT) for $$uri (Ctrl-C stops it)"
	exec $(BIN)/mlflow ui --backend-store-uri "$$uri" --host 127.0.0.1 --port $(MLFLOW_UI_PORT)
