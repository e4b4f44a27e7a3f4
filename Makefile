# The front door. `make run` and `make test` are all a newcomer needs.
SHELL := /bin/bash
PYTHON ?= python3.11
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test test-fast lint bench ci install env browser migrate worker clean

$(STAMP): requirements.txt requirements-dev.txt
	@command -v $(PYTHON) >/dev/null || { echo "Python 3.11 is required ($(PYTHON) not found)"; exit 1; }
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip
	$(PIP) install --quiet -r requirements-dev.txt
	@touch $(STAMP)

install: $(STAMP)

# A development .env with freshly generated secrets, made once.
.env:
	@$(PY) scripts/bootstrap_env.py .env

env: $(STAMP) .env

migrate: env
	$(PY) manage.py migrate --noinput

# Web server and background worker together; Ctrl-C stops both.
run: migrate
	@$(PY) manage.py seed_demo --if-empty
	@echo "Portal: http://$(HOST):$(PORT)/admin/  (demo accounts: see README.md)"
	@trap 'kill 0' EXIT INT TERM; \
	  $(PY) manage.py qcluster & \
	  $(PY) manage.py runserver $(HOST):$(PORT) --noreload

worker: migrate
	$(PY) manage.py qcluster

# Debian chromium, qpdf and DejaVu fonts for the tests (installed when missing and we are root).
browser:
	@bash scripts/ensure_system_packages.sh

test: install browser
	$(PY) -m pytest -n 2 $(PYTEST_ARGS)

test-fast: install
	$(PY) -m pytest -n 2 -m "not browser" $(PYTEST_ARGS)

lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	DJANGO_SETTINGS_MODULE=portal.settings_test $(PY) manage.py check
	DJANGO_SETTINGS_MODULE=portal.settings_test $(PY) manage.py makemigrations --check --dry-run
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/run.py $(BENCH_ARGS)

ci: lint test

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .mypy_cache
