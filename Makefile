# The two commands: `make run` (gateway + built-in sandbox on 127.0.0.1:8080)
# and `make test` (from nothing: venv, packages, Redis, then format, lint, types, tests).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test check lint types pytest redis sandbox bench bench-wait soak clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

# Development session secret: a fresh one per `make run` (memory sessions die with the process anyway).
run: $(STAMP)
	@echo "loyalty-gateway: http://127.0.0.1:8080 (sandbox upstream: http://127.0.0.1:8090);" \
	  "a second brand: http://brand-b.localhost:8080;" \
	  "metrics and status page: http://127.0.0.1:9091/metrics, http://127.0.0.1:9091/gateway/status"
	GATEWAY_CONFIG=$${GATEWAY_CONFIG:-config/gateway.dev.toml} \
	GATEWAY_SESSION_SECRET=$${GATEWAY_SESSION_SECRET:-$$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')} \
	$(BIN)/loyalty-gateway serve

sandbox: $(STAMP)
	$(BIN)/loyalty-gateway sandbox

redis:
	scripts/ensure-redis.sh

lint: $(STAMP)
	$(BIN)/ruff format --check .
	$(BIN)/ruff check .

types: $(STAMP)
	$(BIN)/mypy

pytest: $(STAMP) redis
	$(BIN)/pytest

# The one check command: format, lint, types, tests.
check: lint types pytest

test: check

# Side-by-side measurements on 127.0.0.1 (a few minutes); writes bench/results.json.
bench: $(STAMP)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/clients.py
	$(BIN)/python bench/run.py

# What waiting for a replica (store.wait_replicas) costs a session write, on Sentinel and
# Cluster started for the run (about a minute); writes bench/replica_wait.json.
bench-wait: $(STAMP)
	$(BIN)/python bench/replica_wait.py

# Sustained mixed traffic through a gateway in front of the sandbox, faults switched on and
# off (about 2.5 minutes); memory, descriptors, errors at start and end, exactly-once audit of
# every check-in; writes bench/soak.json. Options: make soak SOAK_ARGS='--duration 300'.
# --store redis|sentinel|cluster: the gateway on a Redis the soak starts (and stops); with
# sentinel or cluster, master SIGKILLs in the fault cycle (--failovers, 2) and the 503 window
# the clients saw, e.g. make soak SOAK_ARGS='--store sentinel --duration 60'.
soak: $(STAMP)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Operator docs (docs/operators/): generated from the code by gateway/docgen.py;
# tests/packaging/test_docs.py fails when the committed files are stale.
.PHONY: docs
docs: $(STAMP)
	$(BIN)/python -m gateway.docgen
