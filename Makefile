# govtrack — the two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
# Two stamps: what running needs (requirements.lock) and that plus the test tools (requirements-test.lock).
INSTALLED := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -c1-12)
TEST_INSTALLED := $(VENV)/.test-installed-$(shell cat requirements.lock requirements-test.lock | sha256sum | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

ANVIL := contracts/node_modules/.bin/anvil
ETH_PORT ?= 8545

.PHONY: run test install install-test system-deps system-deps-test contracts-deps lint schema check-python worker beat \
	watch api-fuzz api-clients mutation image

install: $(INSTALLED)

$(INSTALLED): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

install-test: $(TEST_INSTALLED)

$(TEST_INSTALLED): requirements.lock requirements-test.lock $(INSTALLED)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock -r requirements-test.lock
	@rm -f $(VENV)/.test-installed-* && touch $@

# Debian packages: deploy/apt-packages.txt for running, deploy/apt-packages-test.txt for the tests only.
system-deps:
	@bash scripts/install_system_deps.sh deploy/apt-packages.txt

system-deps-test:
	@bash scripts/install_system_deps.sh deploy/apt-packages.txt deploy/apt-packages-test.txt

# anvil (the local chain) and the contract toolchain; `npm ci` when node_modules is missing or older than the lock
# (same stamp as contracts/ci.sh).
contracts-deps:
	@want=$$(sha256sum contracts/package-lock.json | cut -d' ' -f1); \
	if [ ! -x $(ANVIL) ] || [ "$$(cat contracts/node_modules/.ci-lock-sha256 2>/dev/null)" != "$$want" ]; then \
		(cd contracts && npm ci --no-audit --no-fund) && echo "$$want" > contracts/node_modules/.ci-lock-sha256; \
	fi

# A local chain (anvil, chain 31337, state kept in var/anvil-state.json) runs beside the server and stops with it;
# the escrow contract is deployed once (escrow_deploy is idempotent), then the demo data is seeded.
run: install system-deps contracts-deps
	$(BIN)/python manage.py migrate --noinput
	@mkdir -p var
	@if (exec 3<>/dev/tcp/127.0.0.1/$(ETH_PORT)) 2>/dev/null; then \
		echo "Port $(ETH_PORT) is taken: stop what listens there or run make run ETH_PORT=<free port>." >&2; exit 1; fi
	@$(ANVIL) --host 127.0.0.1 --port $(ETH_PORT) --chain-id 31337 --state var/anvil-state.json --state-interval 1 \
		--silent & anvil_pid=$$!; \
	trap 'kill $$anvil_pid 2>/dev/null; wait $$anvil_pid 2>/dev/null' EXIT INT TERM; \
	for _ in $$(seq 150); do (exec 3<>/dev/tcp/127.0.0.1/$(ETH_PORT)) 2>/dev/null && break; sleep 0.1; done; \
	export ETH_RPC_URL=http://127.0.0.1:$(ETH_PORT) ETH_CHAIN_ID=31337; \
	$(BIN)/python manage.py escrow_deploy && \
	$(BIN)/python manage.py seed_demo && \
	echo && \
	echo "  govtrack is starting: open http://$(HOST):$(PORT)/ and sign in with a user printed above." && \
	echo "  API docs: http://$(HOST):$(PORT)/api/v1/docs/   Admin: http://$(HOST):$(PORT)/admin/ (platform-admin)" && \
	echo "  Local chain: $$ETH_RPC_URL (anvil, chain 31337; state in var/anvil-state.json)" && \
	echo && \
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file $(VENV)/openapi.yaml

test: install-test system-deps-test contracts-deps lint schema
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest
	$(MAKE) api-fuzz
	$(MAKE) api-clients
	@if [ -f contracts/ci.sh ]; then bash contracts/ci.sh; fi

# The API fuzzing gate (docs/security.md): schemathesis with an owner's and a viewer's token against gunicorn on a
# fresh PostgreSQL database; its tool venv (.venv-schemathesis, Python 3.12) is made when missing.
api-fuzz: install-test
	bash scripts/schemathesis_gate.sh
# Generated clients (docs/api.md): a Python and a TypeScript client generated from the served schema, a finance
# tool's program type-checked against each (mypy, tsc) and run against gunicorn; tool venv .venv-clients.
api-clients: install
	bash scripts/api_clients.sh
# Mutation testing of the critical modules (docs/testing.md); not part of `make test`: a module takes minutes.
# make mutation                                   every module in scripts/mutation_targets.toml
# make mutation MODULES="apps/core/transitions.py" BUDGET=900   named modules, at most BUDGET seconds each
# make mutation CHANGED_SINCE=main                 only the modules whose code or tests differ from main
MODULES ?=
CHANGED_SINCE ?=
BUDGET ?= 1200
MUTATION_INSTALLED := $(VENV)/.mutation-$(shell sha256sum requirements-mutation.txt | cut -c1-12)

$(MUTATION_INSTALLED): requirements-mutation.txt $(TEST_INSTALLED)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-mutation.txt
	@rm -f $(VENV)/.mutation-* && touch $@

mutation: install-test $(MUTATION_INSTALLED)
	@export DATABASE_URL="$${DATABASE_URL:-postgres://postgres@127.0.0.1:5432/test}" \
		REDIS_URL="$${REDIS_URL:-redis://127.0.0.1:6379/0}" GOVTRACK_REQUIRE_SERVICES=1; \
	pg_isready -q -h 127.0.0.1 -p 5432 || { echo "make mutation runs against PostgreSQL: start it (see .ci/run)." >&2; exit 1; }; \
	$(BIN)/python scripts/mutation.py --budget $(BUDGET) $(if $(CHANGED_SINCE),--changed-since $(CHANGED_SINCE)) $(MODULES)

# The container image (Containerfile) built with buildah and smoke-tested in it (scripts/build_image.sh): a few
# minutes, so not part of `make test`. BASE_IMAGE=... to build on a registry image instead of a debootstrap base.
image:
	@bash scripts/install_system_deps.sh deploy/apt-packages-image.txt
	bash scripts/build_image.sh

worker: install
	$(BIN)/celery -A govtrack worker -l info

beat: install
	$(BIN)/celery -A govtrack beat -l info --schedule var/celerybeat-schedule

# The escrow block watcher: one sync round per new block (docs/escrow.md, "Payout in seconds").
watch: install
	$(BIN)/python manage.py escrow_watch
