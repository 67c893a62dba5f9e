# Thin wrapper around the stack's tools. `make up` and `make test` install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PACKAGES := shared services/api services/notifier services/processor services/sandbox
RID ?=

.PHONY: install up down logs grep test unit-test integration-test lint bench compose-up deadletters redrive

$(INSTALLED): $(addsuffix /pyproject.toml,$(PACKAGES)) requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -e ,$(PACKAGES)) -e 'services/api[flower]' -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

up: install
	@if docker info >/dev/null 2>&1; then $(MAKE) compose-up; else $(PY) -m devtools.stack up; fi

compose-up:
	$(PY) -m devtools.envfile
	docker compose up -d --wait
	docker compose exec api python -m api.seed

down: install
	@if docker info >/dev/null 2>&1; then docker compose down; fi
	$(PY) -m devtools.stack down

logs:
	tail -n 20 -F logs/*.log

grep: install
	@test -n "$(RID)" || { echo "usage: make grep RID=<request id>"; exit 2; }
	@if docker info >/dev/null 2>&1 && test -n "$$(docker compose ps -q api 2>/dev/null)"; then \
		mkdir -p logs && docker compose cp api:/app/logs/. logs/; fi
	@$(PY) -m devtools.stack grep "$(RID)"

deadletters: install
	@$(PY) -m devtools.stack deadletters list

redrive: install
	@$(PY) -m devtools.stack deadletters redrive

test: install lint unit-test integration-test

unit-test: install
	$(PY) -m pytest shared/tests services

integration-test: install
	$(PY) -m pytest tests/integration

lint: install
	$(VENV)/bin/ruff check .
	cd shared && ../$(VENV)/bin/mypy threadline
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/tracing_overhead.py
	$(PY) bench/workflow.py
	$(PY) bench/file_processing.py
