# Thin wrapper around the stack's tools. `make up` and `make test` install what is missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
INSTALLED := $(VENV)/.installed
PACKAGES := shared services/api services/notifier services/processor services/sandbox services/monitor
RID ?=
# Celery minors threadline supports besides the one the stack pins, as celery==X with its kombu;
# each gets a venv of its own, kept between runs.
COMPAT_CELERY := 5.5.3 5.6.3
KOMBU_5.5.3 := 5.5.4
KOMBU_5.6.3 := 5.6.2
# The tests that touch Celery's internals, with every pool; the prefork pool runs the others too.
POOL_TESTS := shared/tests/test_propagation.py shared/tests/test_internals.py
VERSION_TESTS := $(POOL_TESTS) shared/tests/test_beat.py shared/tests/test_worker_faults.py

.PHONY: install up down logs grep trace report deadletters redrive test unit-test compat-test integration-test lint bench compose-up browser

$(INSTALLED): $(addsuffix /pyproject.toml,$(PACKAGES)) requirements-dev.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(addprefix -e ,$(PACKAGES)) -e 'services/api[flower]' -r requirements-dev.txt
	touch $@

install: $(INSTALLED)

.venv-celery-%/.installed: shared/pyproject.toml requirements-dev.txt
	test -x .venv-celery-$*/bin/python || $(PYTHON) -m venv .venv-celery-$*
	.venv-celery-$*/bin/python -m pip install -q "celery==$*" "kombu==$(KOMBU_$*)" -e "shared[flask]" \
		"$$(grep '^pytest==' requirements-dev.txt)"
	touch $@

up: install
	@if docker info >/dev/null 2>&1; then $(MAKE) compose-up; else $(PY) -m devtools.stack up; fi

compose-up:
	$(PY) -m devtools.envfile
	docker compose up -d --wait
	docker compose exec api python -m api.seed
	$(PY) -m devtools.stack where

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

trace: install
	@test -n "$(RID)" || { echo "usage: make trace RID=<request id> [ARGS=--json]"; exit 2; }
	@$(PY) -m devtools.stack trace "$(RID)" $(ARGS)

report: install
	@$(PY) -m devtools.stack report $(ARGS)

test: install lint unit-test compat-test integration-test

unit-test: install
	$(PY) -m pytest shared/tests services

# threadline with the threads and solo pools, then with every other supported Celery minor.
compat-test: install $(foreach v,$(COMPAT_CELERY),.venv-celery-$(v)/.installed)
	for pool in threads solo; do TL_POOL=$$pool $(PY) -m pytest $(POOL_TESTS) || exit 1; done
	for v in $(COMPAT_CELERY); do \
		.venv-celery-$$v/bin/python -m pytest $(VERSION_TESTS) || exit 1; \
		for pool in threads solo; do TL_POOL=$$pool .venv-celery-$$v/bin/python -m pytest $(POOL_TESTS) || exit 1; done; \
	done

integration-test: install browser
	$(PY) -m pytest tests/integration

# The trace page's test drives Debian's Chromium; installed when missing (CI runs as root).
browser:
	@command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

lint: install
	$(VENV)/bin/ruff check .
	cd shared && ../$(VENV)/bin/mypy threadline
	$(VENV)/bin/lint-imports

bench: install
	$(PY) -m pip install -q -r bench/requirements.txt
	command -v valgrind >/dev/null || { apt-get update -q && apt-get install -y -q valgrind; }
	$(PY) bench/tracing_overhead.py
	$(PY) bench/instructions.py
	$(PY) bench/workflow.py
	$(PY) bench/file_processing.py
	$(PY) bench/monitor.py
