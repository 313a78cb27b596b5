"""Sending job messages to the broker. Messages carry only a job kind and id.

The job row is the truth; a message is only a nudge to a worker. Sending twice
is harmless (the second claim finds the job taken), so the sweeper may resend.
"""

from __future__ import annotations

import logging

from celery import Celery

log = logging.getLogger(__name__)

DENOISE_TASK = "reader_study.tasks.gpu.run_denoise_job"
TRAINING_TASK = "reader_study.tasks.gpu.run_training_job"
SWEEP_TASK = "reader_study.tasks.maintenance.sweep_jobs"
GPU_QUEUE = "gpu"


def celery_app() -> Celery:
    """The app that sends messages (tests point it at their own broker)."""
    from ldct_web.celery import app

    return app


def task_name_for(job) -> str:
    from reader_study.models import DenoiseJob

    return DENOISE_TASK if isinstance(job, DenoiseJob) else TRAINING_TASK


def send(job) -> str:
    """Publishes the message for `job` on the gpu queue; returns the Celery task id."""
    result = celery_app().send_task(task_name_for(job), args=[job.pk], queue=GPU_QUEUE)
    log.info(
        "sent %s for %s %s (task %s)", task_name_for(job), type(job).__name__, job.pk, result.id
    )
    return result.id
