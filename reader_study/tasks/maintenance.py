"""Light periodic work on the default queue."""

from __future__ import annotations

from celery import shared_task

from reader_study.jobs import dispatch


@shared_task(name=dispatch.SWEEP_TASK)
def sweep_jobs() -> dict:
    """Re-queues jobs whose worker died or whose message was lost (see jobs.sweeper)."""
    from reader_study.jobs import lifecycle, sweeper

    lifecycle.refresh_connections()
    return sweeper.sweep()
