# govtrack — the two commands: `make run` and `make test` (see README.md).
SHELL := /bin/bash
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
INSTALLED := $(VENV)/.installed-$(shell sha256sum requirements.lock | cut -c1-12)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test install system-deps lint schema check-python worker beat

install: $(INSTALLED)

$(INSTALLED): requirements.lock
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements.lock
	@rm -f $(VENV)/.installed-* && touch $@

system-deps:
	@bash scripts/install_system_deps.sh

run: install system-deps
	$(BIN)/python manage.py migrate --noinput
	$(BIN)/python manage.py seed_demo
	@echo
	@echo "  govtrack is starting: open http://$(HOST):$(PORT)/ and sign in with a user printed above."
	@echo "  API docs: http://$(HOST):$(PORT)/api/docs/   Admin: http://$(HOST):$(PORT)/admin/ (owner@demo)"
	@echo
	$(BIN)/python manage.py runserver $(HOST):$(PORT)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

schema: install
	$(BIN)/python manage.py spectacular --validate --fail-on-warn --file $(VENV)/openapi.yaml

test: install system-deps lint schema
	$(BIN)/python manage.py makemigrations --check --dry-run
	$(BIN)/pytest
	@if [ -f contracts/ci.sh ]; then bash contracts/ci.sh; fi

worker: install
	$(BIN)/celery -A govtrack worker -l info

beat: install
	$(BIN)/celery -A govtrack beat -l info --schedule var/celerybeat-schedule
