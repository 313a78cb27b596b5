#!/usr/bin/env bash
# The test suite: lint, architecture contract, then pytest. Extra arguments go to pytest.
# Uses DATABASE_URL / CELERY_BROKER_URL when set (Postgres and Redis), else the
# embedded default (SQLite and the filesystem broker).
set -euo pipefail
cd "$(dirname "$0")/.."
V=.venv/bin
echo "== ruff"; $V/ruff check . && $V/ruff format --check .
echo "== import contracts"; $V/lint-imports --no-cache
echo "== pytest (database: ${DATABASE_URL:-embedded SQLite}, broker: ${CELERY_BROKER_URL:-embedded filesystem})"
# Tests get their own var/ so they never touch the demo data of `make run`.
# The test client speaks plain HTTP; the HTTPS settings are checked by the deploy test.
export LDCT_INSECURE_HTTP=1
export LDCT_VAR_DIR=${LDCT_VAR_DIR:-$(mktemp -d -t ldct-test-XXXXXX)}
$V/python manage.py collectstatic --noinput -v0
exec $V/python -m pytest "$@"
