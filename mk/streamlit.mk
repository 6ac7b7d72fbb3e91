# The Streamlit app (streamlit/app.py + pages/): run it, test it, benchmark its serving path.
# Settings come from the environment, .env and .secrets like everywhere else (MLFLOW_TRACKING_URI,
# MLSTACK_PREDICTION_LOG_URL, MLSTACK_ALIAS_REFRESH_SECONDS, MLSTACK_MLFLOW_UI_URL, ...).

STREAMLIT_ADDRESS ?= 127.0.0.1
STREAMLIT_PORT ?= 8501
STREAMLIT_FLAGS = --server.headless=true --server.address=$(STREAMLIT_ADDRESS) \
	--server.port=$(STREAMLIT_PORT) --browser.gatherUsageStats=false --client.toolbarMode=minimal \
	--server.maxUploadSize=$${MLSTACK_UI_MAX_UPLOAD_MB:-50}

##@ Streamlit
.PHONY: streamlit
streamlit: setup ## Serve the app on http://127.0.0.1:8501 (STREAMLIT_PORT=...): Predict, Batch, Models, Monitoring
	@echo "Streamlit on http://$(STREAMLIT_ADDRESS):$(STREAMLIT_PORT)  (no champion yet? run: make demo)"
	$(BIN)/streamlit run streamlit/app.py $(STREAMLIT_FLAGS)

.PHONY: test-app
test-app: setup system-deps ## Streamlit tests: AppTest on every page, registry down, Predict page in headless Chromium
	$(BIN)/pytest tests/app tests/browser $(PYTEST_ARGS)

.PHONY: screenshots
screenshots: setup system-deps ## Refresh the README's screenshots (docs/img/) from the browser tests
	MLSTACK_UPDATE_SCREENSHOTS=1 $(BIN)/pytest tests/browser $(PYTEST_ARGS)

.PHONY: bench-serving
bench-serving: setup system-deps ## Serving benchmark: cold load from an S3-backed MLflow, p50/p99, batch vs raw predict
	$(BIN)/python -m benchmarks.serving $(BENCH_ARGS)
