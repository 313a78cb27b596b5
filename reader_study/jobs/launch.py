"""Starting jobs: denoising on demand or after ingest, training from the platform."""

from __future__ import annotations

import logging

from django.db import transaction
from django.utils import timezone

from reader_study.jobs import lifecycle
from reader_study.models import Case, DenoiseJob, DenoiserModel, JobState, Series, TrainingJob

log = logging.getLogger(__name__)


def request_denoise(case: Case, model: DenoiserModel, user=None) -> tuple[DenoiseJob, str]:
    """Makes sure (case, model) gets denoised; returns the job and what happened.

    One job row per (case, model): an active or finished job is left alone, a failed or
    cancelled one is retried, a series denoised earlier is linked instead of recomputed.
    """
    with transaction.atomic():
        job, created = DenoiseJob.objects.select_for_update().get_or_create(
            case=case,
            denoiser_model=model,
            defaults={"created_by": user, "heartbeat_at": timezone.now()},
        )
        if created:
            existing = Series.objects.denoised(case, model)
            if existing is not None:
                job.state, job.output_series, job.finished_at = (
                    JobState.SUCCEEDED,
                    existing,
                    timezone.now(),
                )
                job.save(update_fields=["state", "output_series", "finished_at"])
                return job, "already denoised"
            lifecycle.enqueue_on_commit(job)
            return job, "queued"
        if job.can_retry:
            lifecycle.retry(job)
            job.refresh_from_db()
            return job, "queued again"
        return job, f"already {job.get_state_display().lower()}"


def launch_training(
    owner, name: str, options: dict, low_dose: list[Case], normal_dose: list[Case]
) -> TrainingJob:
    with transaction.atomic():
        job = TrainingJob.objects.create(
            owner=owner,
            created_by=owner,
            name=name,
            options=options,
            heartbeat_at=timezone.now(),
            max_attempts=3,
        )
        job.low_dose_cases.set(low_dose)
        job.normal_dose_cases.set(normal_dose)
        lifecycle.enqueue_on_commit(job)
    return job


def denoise_ready_cases(owner, model: DenoiserModel) -> list[tuple[DenoiseJob, str]]:
    """Queues every ready case of `owner` not yet denoised with `model` (demo seeding)."""
    cases = Case.objects.filter(owner=owner, status=Case.Status.READY).exclude(
        denoise_jobs__denoiser_model=model
    )
    return [request_denoise(case, model, owner) for case in cases]


def run_here(job: DenoiseJob) -> DenoiseJob:
    """Runs a queued denoising job in this process, through the same claim and fencing as a
    worker (the demo seed uses it so the demo study can open at once; small cases only).
    A worker that receives the job's message afterwards finds it taken and drops it."""
    from reader_study.jobs import denoise  # torch is imported only when a job runs here

    attempt = lifecycle.claim(DenoiseJob, job.pk, hostname="seed@local")
    if attempt is not None:
        with attempt.beating():
            denoise.run(attempt)
    job.refresh_from_db()
    return job
