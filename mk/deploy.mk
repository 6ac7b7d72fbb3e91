# The Kubernetes path (deploy/): offline validation only, no cluster runs here.
# checkov lives in its own pinned environment (.tools/checkov): its dependencies conflict with
# Airflow's (termcolor), so it cannot share uv.lock. deploy/tools/checkov.txt is compiled from
# deploy/tools/checkov.in (`make deploy-tools-lock`).

CHECKOV_ENV := $(CURDIR)/.tools/checkov

$(CHECKOV_ENV)/.installed: deploy/tools/checkov.txt | $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(CHECKOV_ENV)
	$(UV) pip install --quiet --python $(CHECKOV_ENV)/bin/python -r deploy/tools/checkov.txt
	touch $@

##@ Kubernetes (deploy/)
.PHONY: deploy-tools
deploy-tools: $(CHECKOV_ENV)/.installed ## Install checkov (pinned, deploy/tools/checkov.txt) into .tools/checkov

.PHONY: deploy-tools-lock
deploy-tools-lock: | $(UV) ## Re-pin checkov's environment after editing deploy/tools/checkov.in
	$(UV) pip compile --quiet --python-version 3.11 --python-platform x86_64-manylinux_2_28 \
		deploy/tools/checkov.in -o deploy/tools/checkov.txt

.PHONY: deploy-check
deploy-check: setup deploy-tools ## Validate deploy/ offline: kustomize render, kubernetes-validate --strict, chart schema, CRD schema, checkov
	$(BIN)/pytest tests/deploy $(PYTEST_ARGS)

.PHONY: deploy-render
deploy-render: setup ## Print the rendered manifests of deploy/kubernetes (OVERLAY=base|cluster; kubectl kustomize)
	@$(BIN)/python -c "import sys, yaml; from pathlib import Path; from tests.deploy.render import render; \
	objs, how = render(Path('deploy/kubernetes/$(if $(filter base,$(OVERLAY)),base,overlays/$(or $(OVERLAY),cluster))')); \
	print(f'# rendered by {how}', file=sys.stderr); print(yaml.safe_dump_all(objs, sort_keys=False))"

# `make test` (CI) runs tests/deploy too: it needs checkov's environment.
test: deploy-tools
