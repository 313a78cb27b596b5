"""Which task messages are still waiting in a queue, for the sweeper.

The embedded filesystem broker loses a message when a worker's main process
dies after fetching it (shared/notes/services.md), and Redis hides a fetched
message until its visibility timeout (hours). So the sweeper asks the broker
whether a queued job's message is still waiting before sending another one.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

from celery import Celery

log = logging.getLogger(__name__)


def waiting_task_ids(app: Celery, queue: str) -> set[str] | None:
    """Task ids of messages waiting in `queue`; None when this broker cannot be inspected."""
    url = str(app.conf.broker_url or "")
    try:
        if url.startswith("filesystem"):
            return _filesystem_ids(app, queue)
        if url.startswith(("redis", "rediss")):
            return _redis_ids(app, queue)
    except Exception:  # a broker that is down: the next sweep tries again
        log.exception("could not inspect the %s queue", queue)
        return None
    return None


def _task_id(raw: bytes | str) -> str | None:
    try:
        message = json.loads(raw)
    except (ValueError, TypeError):
        return None
    return (message.get("headers") or {}).get("id")


def _filesystem_ids(app: Celery, queue: str) -> set[str]:
    folder = Path((app.conf.broker_transport_options or {}).get("data_folder_in", "."))
    ids = set()
    for path in folder.glob(f"*.{queue}.msg"):
        try:
            task_id = _task_id(path.read_bytes())
        except OSError:  # fetched by a worker while we looked: no longer waiting
            continue
        if task_id:
            ids.add(task_id)
    return ids


def _redis_ids(app: Celery, queue: str) -> set[str]:
    ids = set()
    with app.connection_for_read() as conn:
        channel = conn.default_channel
        prefix = getattr(channel, "global_keyprefix", "") or ""
        client = channel.client
        for priority in channel.priority_steps:
            # LRANGE is not among the commands kombu prefixes itself.
            key = prefix + channel._q_for_pri(queue, priority)
            for raw in client.lrange(key, 0, -1):
                task_id = _task_id(raw)
                if task_id:
                    ids.add(task_id)
    return ids
