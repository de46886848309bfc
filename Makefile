# The two commands: `make run` (gateway + built-in sandbox on 127.0.0.1:8080)
# and `make test` (from nothing: venv, packages, Redis, then format, lint, types, tests).
# `make help` lists the rest. Every target uses the venv's own `$(BIN)/loyalty-gateway`:
# nothing is installed on PATH.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-stamp

# make run's ports, moved by the same variables the gateway reads (GATEWAY_PORT=8180 make run);
# WEB_PORT serves the browser example (config/gateway.dev.toml allows its origin: move both).
GATEWAY_PORT         ?= 8080
GATEWAY_SANDBOX_PORT ?= 8090
GATEWAY_ADMIN_PORT   ?= 9091
WEB_PORT             ?= 8081
# The page calls the gateway on its own host name, port 8080 unless told.
WEB_URL := http://web.localhost:$(WEB_PORT)/$(if $(filter-out 8080,$(GATEWAY_PORT)),?gateway_port=$(GATEWAY_PORT))

# A fresh development session secret per command (memory sessions die with the process);
# check-config and reload need one to check the configuration, not the running gateway's.
FRESH_SECRET = $$($(BIN)/python -c 'import secrets; print(secrets.token_urlsafe(48))')
DEV_ENV = GATEWAY_CONFIG=$${GATEWAY_CONFIG:-config/gateway.dev.toml} \
	GATEWAY_SESSION_SECRET=$${GATEWAY_SESSION_SECRET:-$(FRESH_SECRET)}

.PHONY: help run run-punchh punchh-env check-config reload test check lint types pytest redis \
	sandbox bench bench-wait soak clean

help: ## this list
	@grep -E '^[a-z-]+:.*## ' $(firstword $(MAKEFILE_LIST)) \
	  | sed -E 's/^([a-z-]+):.*## /\1\t/' | expand -t 14

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

venv: $(STAMP)

# The gateway, its sandbox, the admin port and the browser example's page (examples/serve.py,
# stopped with the gateway: Ctrl-C ends both).
run: $(STAMP) ## the gateway on 127.0.0.1:8080 in front of the built-in sandbox, and the browser example
	@echo "loyalty-gateway: http://127.0.0.1:8080 (sandbox upstream: http://127.0.0.1:8090);" \
	  "a second brand: http://brand-b.localhost:8080;" \
	  "metrics and status page: http://127.0.0.1:9091/metrics, http://127.0.0.1:9091/gateway/status" \
	  | sed -e 's/:8080/:$(GATEWAY_PORT)/g' -e 's/:8090/:$(GATEWAY_SANDBOX_PORT)/g' \
	    -e 's/:9091/:$(GATEWAY_ADMIN_PORT)/g'
	@echo "browser example (cookie mode): $(WEB_URL)"
	@$(BIN)/python examples/serve.py --port $(WEB_PORT) & web=$$!; \
	trap 'kill $$web 2>/dev/null' EXIT; trap 'exit 130' INT; trap 'exit 143' TERM; \
	$(DEV_ENV) $(BIN)/loyalty-gateway serve

# A real Punchh business: its URL and credentials from the environment, never from a file
# here; no sandbox, no POS (that needs [[pos.devices]] in a configuration of your own).
need = $(if $($(1)),,$(error make run-punchh: $(1) is not set: $(2)))
punchh-env:
	@: $(call need,PUNCHH_BASE_URL,the URL of the Punchh server to use) \
	  $(call need,PUNCHH_CLIENT_ID,the client id of your Punchh business) \
	  $(if $(PUNCHH_CLIENT_SECRET_FILE),,$(call need,PUNCHH_CLIENT_SECRET,the client secret of your Punchh business (or PUNCHH_CLIENT_SECRET_FILE)))

run-punchh: punchh-env $(STAMP) ## the gateway on 127.0.0.1:8080 in front of a real Punchh (PUNCHH_BASE_URL, PUNCHH_CLIENT_ID, PUNCHH_CLIENT_SECRET)
	@echo "loyalty-gateway: http://127.0.0.1:8080;" \
	  "metrics and status page: http://127.0.0.1:9091/metrics, http://127.0.0.1:9091/gateway/status" \
	  | sed -e 's/:8080/:$(GATEWAY_PORT)/g' -e 's/:9091/:$(GATEWAY_ADMIN_PORT)/g'
	@echo "upstream: the Punchh at $$PUNCHH_BASE_URL (no sandbox)"
	GATEWAY_CONFIG=$${GATEWAY_CONFIG:-config/gateway.punchh.toml} GATEWAY_SANDBOX=false \
	GATEWAY_SESSION_SECRET=$${GATEWAY_SESSION_SECRET:-$(FRESH_SECRET)} \
	$(BIN)/loyalty-gateway serve

check-config: $(STAMP) ## check make run's configuration (GATEWAY_CONFIG=... for another)
	@$(DEV_ENV) $(BIN)/loyalty-gateway check-config

reload: $(STAMP) ## check the configuration, then have the running `make run` gateway reload it
	@$(DEV_ENV) $(BIN)/loyalty-gateway reload

sandbox: $(STAMP) ## the Punchh sandbox alone on 127.0.0.1:8090, emulating make run's businesses
	GATEWAY_CONFIG=$${GATEWAY_CONFIG:-config/gateway.dev.toml} $(BIN)/loyalty-gateway sandbox

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
check: lint types pytest ## format, lint, types, tests (what `make test` runs)

test: check ## from nothing: venv, packages, Redis; then format, lint, types and every test

# Side-by-side measurements on 127.0.0.1 (a few minutes); writes bench/results.json.
bench: $(STAMP) ## side-by-side measurements on 127.0.0.1 (writes bench/results.json)
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	$(BIN)/python bench/clients.py
	$(BIN)/python bench/run.py

# What waiting for a replica (store.wait_replicas) costs a session write, on Sentinel and
# Cluster started for the run (about a minute); writes bench/replica_wait.json.
bench-wait: $(STAMP) ## what waiting for a replica costs a session write (Sentinel and Cluster)
	$(BIN)/python bench/replica_wait.py

# Sustained mixed traffic through a gateway in front of the sandbox, faults switched on and
# off (about 2.5 minutes); memory, descriptors, errors at start and end, exactly-once audit of
# every check-in; writes bench/soak.json. Options: make soak SOAK_ARGS='--duration 300'.
# --store redis|sentinel|cluster: the gateway on a Redis the soak starts (and stops); with
# sentinel or cluster, master SIGKILLs in the fault cycle (--failovers, 2) and the 503 window
# the clients saw, e.g. make soak SOAK_ARGS='--store sentinel --duration 60'.
soak: $(STAMP) ## sustained mixed traffic with faults, exactly-once audit (writes bench/soak.json)
	$(BIN)/python bench/soak.py $(SOAK_ARGS)

clean: ## remove the venv and the tools' caches
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# Operator docs (docs/operators/): generated from the code by gateway/docgen.py;
# tests/packaging/test_docs.py fails when the committed files are stale.
.PHONY: docs
docs: $(STAMP) ## regenerate docs/operators/ and docs/openapi.json from the code
	$(BIN)/python -m gateway.docgen
