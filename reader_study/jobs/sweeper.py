"""The periodic sweeper: finds jobs whose worker or message was lost and sends them again.

Run by celery beat every LDCT_JOB_SWEEP_SECONDS (one beat per deployment). It handles:
- running jobs whose heartbeat stopped (worker killed, machine gone): back to queued
  and a new message, or failed with a message once max_attempts is used up;
- queued jobs whose message is no longer waiting in the broker after a grace period
  (the embedded broker drops a message when a worker's main process dies, a web
  process can die between commit and send): a new message.
Sending again is always safe: a second message for a taken job is dropped by claim().
"""

from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from reader_study.jobs import broker, config, dispatch, lifecycle
from reader_study.models import DenoiseJob, JobState, TrainingJob

log = logging.getLogger(__name__)
JOB_MODELS = (DenoiseJob, TrainingJob)


def sweep(now=None) -> dict[str, int]:
    """One pass over every job model; returns counts for the log and the tests."""
    now = now or timezone.now()
    counts = {"requeued": 0, "failed": 0, "resent": 0, "skipped": 0}
    for model in JOB_MODELS:
        for pk in _stale_running(model, now):
            counts[_recover(model, pk, now)] += 1
        counts["resent"] += _resend_lost_messages(model, now)
    if counts["requeued"] or counts["failed"] or counts["resent"]:
        log.warning("job sweep: %s", counts)
    return counts


def _stale_running(model, now) -> list[int]:
    cutoff = now - timedelta(seconds=config.STALE_SECONDS)
    stale = Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    return list(model.objects.filter(stale, state=JobState.RUNNING).values_list("pk", flat=True))


def _recover(model, pk: int, now) -> str:
    cutoff = now - timedelta(seconds=config.STALE_SECONDS)
    with transaction.atomic():
        job = lifecycle.locked(model, pk)
        if job is None:
            return "skipped"
        # Re-check under the lock: the worker may have beaten or finished meanwhile.
        if job.state != JobState.RUNNING or (job.heartbeat_at and job.heartbeat_at >= cutoff):
            return "skipped"
        if job.attempts >= job.max_attempts:
            job.state, job.finished_at = JobState.FAILED, now
            job.message = lifecycle.out_of_attempts_message(job)
            job.save(update_fields=["state", "finished_at", "message"])
            return "failed"
        lifecycle.requeue(
            job,
            f"Attempt {job.attempts} stopped responding (worker {job.worker or 'unknown'}); "
            "queued again.",
        )
        return "requeued"


def _resend_lost_messages(model, now) -> int:
    cutoff = now - timedelta(seconds=config.QUEUED_GRACE_SECONDS)
    waiting_too_long = model.objects.filter(state=JobState.QUEUED).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    jobs = list(waiting_too_long.only("pk", "celery_task_id", "heartbeat_at"))
    if not jobs:
        return 0
    waiting = broker.waiting_task_ids(dispatch.celery_app(), dispatch.GPU_QUEUE)
    if waiting is None:
        # A broker we cannot look into: resend only after a much longer wait, so a
        # long backlog does not fill the queue with duplicates.
        long_cutoff = now - timedelta(seconds=config.QUEUED_GRACE_SECONDS * 12)
        jobs = [j for j in jobs if j.heartbeat_at is None or j.heartbeat_at < long_cutoff]
        waiting = set()
    resent = 0
    for job in jobs:
        if job.celery_task_id and job.celery_task_id in waiting:
            # Still in line behind other work: it only waits. Restart its grace period.
            model.objects.filter(pk=job.pk, state=JobState.QUEUED).update(heartbeat_at=now)
            continue
        lifecycle.send_now(model, job.pk)
        resent += 1
    return resent
