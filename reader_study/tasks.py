"""Celery tasks. Small, idempotent functions of ids; the database is the truth."""

from __future__ import annotations

import os
import socket

from celery import shared_task


@shared_task(name="reader_study.ping")
def ping(payload: str = "pong") -> dict:
    """Round trip for health checks and tests: proves a real worker consumed the queue."""
    return {"payload": payload, "worker": f"{socket.gethostname()}:{os.getpid()}"}
