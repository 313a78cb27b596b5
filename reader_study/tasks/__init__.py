"""Celery tasks. Small, idempotent functions of ids; the database is the truth.

- gpu: denoising and training jobs (queue "gpu", one worker process per GPU);
- maintenance: the job sweeper (queue "default", run by celery beat).
"""

from __future__ import annotations

import os
import socket

from celery import shared_task

from reader_study.tasks import gpu, maintenance  # noqa: F401  (registers the tasks)


@shared_task(name="reader_study.ping")
def ping(payload: str = "pong") -> dict:
    """Round trip for health checks and tests: proves a real worker consumed the queue."""
    return {"payload": payload, "worker": f"{socket.gethostname()}:{os.getpid()}"}
