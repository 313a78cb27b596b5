"""gunicorn settings for the web server: `gunicorn -c ldct_web/gunicorn_conf.py ldct_web.wsgi`.

make run, the README's production command and the test server all read this file, so the
server a test proves is the one that ships.

Slow clients: a sync worker serves one connection at a time, so a few sockets that never
finish their headers or bodies would hold every worker until the timeout and stop the site.
gevent workers wait on each connection cooperatively: a slow client costs one greenlet of
`worker_connections`, not a worker. A production deployment still puts a buffering proxy
(nginx) in front for TLS, with its own header and body timeouts (README, "Scaling out").
"""

import multiprocessing
import os

bind = os.environ.get("LDCT_BIND", "127.0.0.1:8000")
worker_class = "gevent"
# About one worker per core: ingest de-identifies each file in the request that completes
# it, which is CPU work that a greenlet does not share.
workers = int(os.environ.get("WEB_CONCURRENCY", min(4, multiprocessing.cpu_count() + 1)))
worker_connections = int(os.environ.get("LDCT_WORKER_CONNECTIONS", 1000))
# Each worker shares a pool of this many Postgres connections among its greenlets
# (ldct_web/env.py): workers x pool stays under Postgres's max_connections (100 by
# default) with room for the Celery workers; a request waits for a free connection
# instead of failing with "too many clients".
os.environ.setdefault("DATABASE_POOL_SIZE", "16")
# A worker that stops answering its arbiter this long is restarted; long uploads are
# chunked and a chunk is small, so no request legitimately runs this long.
timeout = int(os.environ.get("LDCT_WEB_TIMEOUT", 300))
graceful_timeout = 20
keepalive = 5
# Header limits (gunicorn's defaults, stated): a request line of 8 KB, 100 header fields.
limit_request_line = 8190
limit_request_fields = 100
accesslog = os.environ.get("LDCT_ACCESS_LOG", "-")
