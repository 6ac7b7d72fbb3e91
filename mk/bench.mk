# Performance suite (benchmarks/README.md): one table of figures beside their limits, with the
# reference measured in the same run. Benchmarks never fail on slowness: a missed target is a
# FAIL row in the table, the command still exits 0 (BENCH_ARGS=--strict to change that).
#
#   make bench                      quick mode: B1..B14, median of 3 runs (the last run of B1..B9
#                                   together took 12.4 min; B1, B4..B6, B10..B14 ran alone since)
#   make bench BENCH_ARGS="--only B3,B7 --repeats 5"
#   make bench-full                 adds the largest sizes (10M rows)
#   make bench-smoke                each benchmark once at its smallest size (pytest -m bench_smoke;
#                                   B9 on a one-service compose file, B13 on canned run summaries)

BENCH_ARGS ?=

##@ Benchmarks
.PHONY: bench
bench: setup system-deps ## Performance suite, quick mode (B1..B14): table + benchmarks/results/latest.md
	$(BIN)/python -m benchmarks.run $(BENCH_ARGS)

.PHONY: bench-full
bench-full: setup system-deps ## Performance suite with the largest sizes (10M rows; slow)
	$(BIN)/python -m benchmarks.run --full $(BENCH_ARGS)

.PHONY: bench-smoke
bench-smoke: setup system-deps ## Each benchmark once at the smallest size (B9, B13 without the stack)
	$(BIN)/pytest -m bench_smoke tests/bench $(PYTEST_ARGS)
