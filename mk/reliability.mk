# Reliability and security: fault injection and bad-input suites, the secret scan, the
# dependency audit. See docs/security/ and tests/reliability/.

SECRETS_BASELINE := .secrets.baseline
AUDIT_REPORT ?= reports/security/audit.json

##@ Reliability and security
.PHONY: test-reliability
test-reliability: setup system-deps ## Fault injection (real servers killed/restarted), bad inputs, load, security checks
	$(BIN)/pytest tests/reliability -m reliability $(PYTEST_ARGS)

.PHONY: secrets-scan
secrets-scan: setup ## detect-secrets over every git-tracked file against .secrets.baseline (fails on a new secret)
	@set -uo pipefail
	copy=$$(mktemp); cp $(SECRETS_BASELINE) "$$copy"
	mapfile -d '' files < <(git ls-files -z)
	rc=0
	$(BIN)/detect-secrets-hook --baseline "$$copy" $$(printf '%s\n' "$${files[@]}" | grep -vx '$(SECRETS_BASELINE)') || rc=$$?
	rm -f "$$copy"
	# 0: clean; 3: clean, only the line numbers of known findings moved (the copy was rewritten)
	if [ $$rc -ne 0 ] && [ $$rc -ne 3 ]; then echo "secrets-scan: secrets outside $(SECRETS_BASELINE) (exit $$rc)"; exit 1; fi
	echo "secrets-scan: no secret outside $(SECRETS_BASELINE)"

.PHONY: secrets-baseline
secrets-baseline: setup ## Re-scan into .secrets.baseline (review `detect-secrets audit .secrets.baseline` after)
	$(BIN)/detect-secrets scan --baseline $(SECRETS_BASELINE)

.PHONY: audit
audit: setup ## pip-audit on the locked dependencies (uv.lock); exit 3 when the vulnerability service is unreachable
	$(BIN)/python scripts/security/audit.py --json $(AUDIT_REPORT)

.PHONY: check-secrets
check-secrets: setup ## Refuse empty, default or weak service secrets unless MLSTACK_ENV=development
	$(BIN)/mlstack secrets check
