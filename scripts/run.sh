#!/usr/bin/env bash
# Runs the product on this machine: web server + one Celery worker, with demo data.
# Started by `make run`, which has already installed the Python and npm parts.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${LDCT_HOST:-127.0.0.1}
PORT=${LDCT_PORT:-8000}

# Absolute DICOMweb URLs (BulkDataURI, RetrieveURL) name this port even for clients that
# leave it out of their Host header (dicomweb-client does). Behind a proxy, set
# LDCT_PUBLIC_URL to the public origin instead.
if [[ -z "${LDCT_PUBLIC_URL:-}" && "$HOST" != "0.0.0.0" && "$HOST" != "::" ]]; then
  if [[ "$HOST" == *:* ]]; then URL_HOST="[$HOST]"; else URL_HOST="$HOST"; fi
  export LDCT_PUBLIC_URL="http://$URL_HOST:$PORT"
fi

$PY manage.py migrate --noinput -v0
$PY manage.py collectstatic --noinput -v0
logins=$($PY manage.py seed_demo)
echo "$logins"

pids=()
stop() {
  trap - INT TERM EXIT
  echo; echo "Stopping web server and worker..."
  kill -TERM "${pids[@]}" 2>/dev/null || true
  wait "${pids[@]}" 2>/dev/null || true
  echo "Stopped."
}
trap stop INT TERM EXIT

# -B: this worker also runs celery beat, whose job sweeper re-queues jobs a killed
# worker left behind (one beat per deployment; its schedule file is in var/).
.venv/bin/celery -A ldct_web worker -Q default,gpu --concurrency 1 --loglevel INFO \
  --hostname "worker@%h" -B &
pids+=($!)
# gevent workers (ldct_web/gunicorn_conf.py): slow clients cannot hold the site's workers.
LDCT_BIND="$HOST:$PORT" .venv/bin/gunicorn -c ldct_web/gunicorn_conf.py ldct_web.wsgi:application &
pids+=($!)

echo
echo "LDCT Reader Studio is running at http://$HOST:$PORT/  (Ctrl-C stops it)"
echo "$logins" | grep -A3 "Demo logins" || true
echo
# Either process dying ends the run, so a broken worker is never silently missing.
wait -n "${pids[@]}"
