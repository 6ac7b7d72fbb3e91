# Jenkins: static checks of the pipeline files, the build-on-commit hook, and the targets only
# the Jenkinsfile uses. Jenkins itself cannot run on this machine (no jenkins.war is reachable);
# see jenkins/README.md.

GROOVY_LINT_VERSION := 16.2.0
NODE_TOOLS := $(CURDIR)/.tools/node
GROOVY_LINT := $(NODE_TOOLS)/node_modules/.bin/npm-groovy-lint
GROOVY_LINT_STAMP := $(NODE_TOOLS)/.npm-groovy-lint-$(GROOVY_LINT_VERSION)
GROOVY_LINT_WORK := $(CURDIR)/.tools/groovy-lint
# CodeNarc is a short JVM run: the C1 compiler alone and the serial GC start faster, same findings.
GROOVY_LINT_JAVA := -Xms256m,-Xmx1024m,-XX:TieredStopAtLevel=1,-XX:+UseSerialGC
JENKINS_JOB ?= mlstack
# Where `make jenkins-hook` installs the hook (a worktree's own hooks dir, honours core.hooksPath).
HOOKS_DIR ?= $(shell git rev-parse --path-format=absolute --git-path hooks 2>/dev/null)

##@ Jenkins
$(GROOVY_LINT_STAMP):
	@set -euo pipefail
	command -v npm >/dev/null || { echo "groovy-lint-install: npm (Node.js 20) is required" >&2; exit 1; }
	command -v java >/dev/null || { echo "groovy-lint-install: java (JDK 17+) is required by CodeNarc" >&2; exit 1; }
	mkdir -p $(NODE_TOOLS)
	npm install --prefix $(NODE_TOOLS) --no-audit --no-fund --loglevel=error \
	  npm-groovy-lint@$(GROOVY_LINT_VERSION)
	# Check the install by its package.json: `npm-groovy-lint --version` (even with --noserver)
	# starts a CodeNarc server with a 2 GiB heap that outlives make.
	test "$$(node -p 'require("$(NODE_TOOLS)/node_modules/npm-groovy-lint/package.json").version')" = $(GROOVY_LINT_VERSION)
	rm -f $(NODE_TOOLS)/.npm-groovy-lint-*
	touch $@

.PHONY: groovy-lint-install
groovy-lint-install: $(GROOVY_LINT_STAMP) ## Install npm-groovy-lint 16.2.0 into .tools/node (needs npm, java)

.PHONY: jenkins-lint
jenkins-lint: setup groovy-lint-install ## Lint Jenkinsfile + the casc.yaml seed (npm-groovy-lint) and Dockerfile.jenkins(-agent) (hadolint)
	@set -euo pipefail
	mkdir -p $(GROOVY_LINT_WORK)
	echo '{"extends":"recommended-jenkinsfile"}' > $(GROOVY_LINT_WORK)/.groovylintrc.json
	cp Jenkinsfile $(GROOVY_LINT_WORK)/Jenkinsfile
	$(BIN)/python -c 'import sys, yaml; \
	  open(sys.argv[2], "w").write(yaml.safe_load(open(sys.argv[1]))["jobs"][0]["script"])' \
	  jenkins/casc.yaml $(GROOVY_LINT_WORK)/seed.groovy
	cd $(GROOVY_LINT_WORK)
	$(GROOVY_LINT) --noserver --failon error --config $(GROOVY_LINT_WORK) \
	  --javaoptions=$(GROOVY_LINT_JAVA) Jenkinsfile seed.groovy
	cd $(CURDIR)
	$(BIN)/hadolint Dockerfile.jenkins Dockerfile.jenkins-agent
	echo "jenkins-lint: OK"

.PHONY: test-jenkins
test-jenkins: setup groovy-lint-install ## Jenkins tests: static checks + python-jenkins client
	$(BIN)/pytest tests/static/test_jenkins.py tests/unit/jenkins $(PYTEST_ARGS)

.PHONY: test-jenkins-stages
test-jenkins-stages: setup system-deps ## The Jenkinsfile's sh steps in the agent image on a clean clone (about 5 min warm; also run by make test)
	$(BIN)/pytest -m jenkins_stages tests/stack/test_jenkins_stages.py $(PYTEST_ARGS)

.PHONY: jenkins-up
jenkins-up: compose-plugin .env .secrets ## Start Jenkins (:8081) with the stack: .env's COMPOSE_PROFILES plus jenkins, both env files
	@set -euo pipefail
	# `--profile jenkins` would replace COMPOSE_PROFILES (no postgres, rustfs, mailpit); add to it.
	profiles="$${COMPOSE_PROFILES-$$(sed -n 's/^COMPOSE_PROFILES=//p' .env .secrets | tail -n 1)}"
	export COMPOSE_PROFILES="$${profiles:+$$profiles,}jenkins"
	# The jenkins service's secrets are files `make secrets` writes from .secrets: the required
	# ones must be set there (the entrypoint's check refuses defaults); optional ones may be empty.
	for name in JENKINS_ADMIN_PASSWORD MLSTACK_AIRFLOW_ADMIN_PASSWORD; do
	  [ -n "$${!name:-}" ] || grep -qsE "^$$name=.+" .env .secrets || {
	    echo "jenkins-up: set $$name in .secrets (make secrets)" >&2; exit 1; }
	done
	for name in MLSTACK_SMTP_PASSWORD MLSTACK_JENKINS_WEBHOOK_TOKEN; do
	  grep -qs "^$$name=" .env .secrets || export "$$name=$${!name-}"
	done
	# The whole stack of those profiles: the mailer needs mailpit, the Retrain stage Airflow.
	$(COMPOSE) up -d --build --wait $(SERVICES)
	$(COMPOSE) ps
	echo "jenkins-up: profiles $$COMPOSE_PROFILES; Jenkins on port JENKINS_PORT (default 8081)"

.PHONY: ci-reports-clean
ci-reports-clean: ## (Jenkinsfile) Drop JUnit/drift reports of earlier builds from the workspace
	rm -rf reports/junit reports/drift
	mkdir -p reports/junit reports/drift

.PHONY: jenkins-build
jenkins-build: setup ## Trigger the Jenkins job and follow it to its result (MLSTACK_JENKINS_URL/_USER/_TOKEN)
	$(BIN)/mlstack jenkins build $(JENKINS_JOB)

.PHONY: jenkins-hook
jenkins-hook: ## Install the git post-commit hook that asks Jenkins to build each commit on main
	@set -euo pipefail
	test -n "$(HOOKS_DIR)" || { echo "jenkins-hook: not inside a git repository" >&2; exit 1; }
	mkdir -p "$(HOOKS_DIR)"
	if [ -e "$(HOOKS_DIR)/post-commit" ] && ! cmp -s scripts/git-hooks/post-commit "$(HOOKS_DIR)/post-commit"; then
	  mv "$(HOOKS_DIR)/post-commit" "$(HOOKS_DIR)/post-commit.before-mlstack"
	  echo "jenkins-hook: kept the previous hook as $(HOOKS_DIR)/post-commit.before-mlstack"
	fi
	install -m 0755 scripts/git-hooks/post-commit "$(HOOKS_DIR)/post-commit"
	echo "jenkins-hook: installed $(HOOKS_DIR)/post-commit (MLSTACK_JENKINS_HOOK=background|follow|off)"

.PHONY: jenkins-hook-uninstall
jenkins-hook-uninstall: ## Remove the post-commit hook installed by `make jenkins-hook`
	@set -euo pipefail
	if cmp -s scripts/git-hooks/post-commit "$(HOOKS_DIR)/post-commit"; then
	  rm -f "$(HOOKS_DIR)/post-commit"
	  echo "jenkins-hook-uninstall: removed $(HOOKS_DIR)/post-commit"
	else
	  echo "jenkins-hook-uninstall: no mlstack post-commit hook in $(HOOKS_DIR)"
	fi
