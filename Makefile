# The two commands: `make run` (the product) and `make test` (the suite).
# Both set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint setup frontend clean worker

run: setup
	LDCT_INSECURE_HTTP=1 ./scripts/run.sh

test: $(VENV)/.dev-installed frontend/dist/.vite/manifest.json
	./scripts/test.sh $(TEST_ARGS)

lint: $(VENV)/.dev-installed
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

setup: $(VENV)/.installed frontend/dist/.vite/manifest.json

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt $(VENV)/bin/python
	$(PIP) install --quiet -r requirements.txt
	touch $@

$(VENV)/.dev-installed: requirements-dev.txt $(VENV)/.installed
	$(PIP) install --quiet -r requirements-dev.txt
	touch $@

frontend/node_modules/.package-lock.json: frontend/package-lock.json
	cd frontend && npm ci --no-audit --no-fund

frontend/dist/.vite/manifest.json: frontend/node_modules/.package-lock.json $(shell find frontend/src -type f) frontend/vite.config.ts frontend/tsconfig.json
	cd frontend && npm run build

frontend: frontend/dist/.vite/manifest.json

# A worker on another machine (scale-out); see README, "GPU workers".
worker: $(VENV)/.installed
	$(VENV)/bin/celery -A ldct_web worker -Q gpu --concurrency 1 --loglevel INFO

clean:
	rm -rf frontend/dist var/staticfiles
