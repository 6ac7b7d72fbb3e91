# The prediction API (`mlstack serve`, src/mlstack/api/): run it and test it. Settings come from
# the environment, .env and .secrets like everywhere else (MLSTACK_API_TOKEN, MLSTACK_API_MAX_ROWS,
# MLSTACK_ALIAS_REFRESH_SECONDS, ...).

API_HOST ?= 127.0.0.1
API_PORT ?= 8000

##@ Prediction API
.PHONY: api
api: setup ## Serve the prediction API on http://127.0.0.1:8000 (API_PORT=...); docs at /docs
	@echo "API on http://$(API_HOST):$(API_PORT)/docs  (no champion yet? run: make demo)"
	$(BIN)/mlstack serve --host $(API_HOST) --port $(API_PORT)

.PHONY: test-api
test-api: setup system-deps ## API tests: in-process routes, bad-input corpus, mlstack serve as a process, /docs in Chromium
	$(BIN)/pytest tests/unit/test_api.py tests/unit/test_api_bad_inputs.py tests/integration/test_api_serve.py \
		tests/browser/test_api_docs.py $(PYTEST_ARGS)
