# The two commands: `make run` (the product) and `make test` (the suite).
# Both set up everything they need on a fresh machine.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: run test lint setup frontend schema clean worker

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

# The build generates frontend/src/api/schema.d.ts from frontend/openapi.json first: the
# generated file is no prerequisite (a typecheck that rewrites it must not force a rebuild).
frontend/dist/.vite/manifest.json: frontend/node_modules/.package-lock.json $(shell find frontend/src -type f ! -path frontend/src/api/schema.d.ts) frontend/openapi.json frontend/vite.config.ts frontend/tsconfig.json
	cd frontend && npm run build

frontend: frontend/dist/.vite/manifest.json

# The REST API's OpenAPI schema the frontend's types come from, committed as
# frontend/openapi.json (tests/platform/test_frontend_schema.py says when it is stale).
# Always the embedded SQLite's view: some integer bounds depend on the database backend.
schema: $(VENV)/.installed
	env -u DATABASE_URL LDCT_INSECURE_HTTP=1 $(PY) manage.py spectacular --format openapi-json --file frontend/openapi.json

# A worker on another machine (scale-out); see README, "GPU workers".
worker: $(VENV)/.installed
	$(VENV)/bin/celery -A ldct_web worker -Q gpu --concurrency 1 --loglevel INFO

clean:
	rm -rf frontend/dist var/staticfiles
