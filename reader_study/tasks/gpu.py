"""Tasks of the gpu queue: one job id in, the job row updated, nothing else trusted.

A message may arrive twice (redelivery after a killed worker, the sweeper resending);
claim() lets only one attempt run, and the work is idempotent (see jobs.denoise).
"""

from __future__ import annotations

import logging

from celery import shared_task
from celery.exceptions import SoftTimeLimitExceeded
from celery.signals import worker_process_init

from reader_study.jobs import denoise, dispatch, lifecycle, training
from reader_study.jobs.lifecycle import AttemptLost
from reader_study.models import DenoiseJob, TrainingJob
from reader_study.server_errors import is_disk_full

log = logging.getLogger(__name__)


@worker_process_init.connect
def _import_torch_early(**_) -> None:
    """Each pool process of a gpu-queue worker imports torch and the denoiser when it starts
    (seconds on a CPU), so the first job does not pay for it; light `-Q default` workers
    skip it. Only imports: CUDA is initialised by the job."""
    from celery import current_app

    if dispatch.GPU_QUEUE not in (current_app.amqp.queues.consume_from or {}):
        return
    import denoiser.dicom.derive  # noqa: F401
    import denoiser.inference  # noqa: F401

    log.info("pool process ready for gpu jobs (torch imported)")


def _failure_message(job, exc: Exception) -> str | None:
    """A message the researcher can act on for errors a retry cannot fix; None otherwise."""
    from denoiser import CheckpointError
    from denoiser.dicom.read import DicomReadError

    model = getattr(job, "denoiser_model", None)
    if isinstance(exc, CheckpointError):
        return (
            f"The model {model or 'checkpoint'} could not be loaded: {exc.reason}. "
            "Upload a working checkpoint on the Models page or choose another model; "
            "the case itself is unchanged."
        )
    if isinstance(exc, DicomReadError):
        return f"The original series could not be read: {exc}. Upload the case again."
    if isinstance(exc, denoise.JobInputError):
        return str(exc)
    if is_disk_full(exc):
        # Failed at once: a retry would find the disk as full. The attempt's files are
        # removed (discard), the original series is untouched.
        return (
            "The media storage is full (no space left on device) while writing the result; "
            "nothing of it was kept and the case itself is unchanged. Free space on the media "
            "volume, then Retry."
        )
    if isinstance(exc, SoftTimeLimitExceeded):
        return "The job ran longer than the time limit (CELERY_TASK_TIME_LIMIT) and was stopped."
    if isinstance(exc, ValueError):
        return f"The input was refused: {exc}."
    return None


def _run(task, model, job_id: int, work, discard=None) -> dict:
    lifecycle.refresh_connections()
    attempt = lifecycle.claim(
        model, job_id, hostname=task.request.hostname, task_id=task.request.id or ""
    )
    if attempt is None:
        return {"job": job_id, "skipped": True}
    with attempt.beating():
        try:
            return work(attempt)
        except AttemptLost:
            log.info("%s %s: attempt %s lost its claim", model.__name__, job_id, attempt.number)
            outcome = {"job": job_id, "lost": True}
        except Exception as exc:
            message = _failure_message(attempt.job, exc)
            if message is None:
                log.exception("%s %s failed unexpectedly", model.__name__, job_id)
                lifecycle.fail_or_retry(attempt, f"{type(exc).__name__}: {exc}")
            else:
                log.warning("%s %s failed: %s", model.__name__, job_id, message)
                lifecycle.fail(attempt, message)
            outcome = {"job": job_id, "failed": True}
    if discard is not None:
        attempt.job.refresh_from_db()
        discard(attempt)
    return outcome


@shared_task(bind=True, name=dispatch.DENOISE_TASK, queue=dispatch.GPU_QUEUE)
def run_denoise_job(self, job_id: int) -> dict:
    """Denoises one case with one model (DenoiseJob id)."""
    return _run(self, DenoiseJob, job_id, denoise.run, discard=denoise.discard)


@shared_task(bind=True, name=dispatch.TRAINING_TASK, queue=dispatch.GPU_QUEUE)
def run_training_job(self, job_id: int) -> dict:
    """Trains a model from unpaired cases and registers it (TrainingJob id)."""
    return _run(self, TrainingJob, job_id, training.run)
