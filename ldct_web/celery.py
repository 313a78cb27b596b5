"""The Celery app: two queues, settings for long GPU tasks.

`gpu` carries denoising and training (one worker process per GPU, prefetch 1);
`default` carries light work (sweeps, exports). Workers are always real
processes: there is no eager mode in the product.
"""

from __future__ import annotations

import os
from pathlib import Path

from celery import Celery
from kombu import Exchange, Queue

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")

app = Celery("ldct_web")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

app.conf.update(
    task_queues=(
        Queue("default", Exchange("default"), routing_key="default"),
        Queue("gpu", Exchange("gpu"), routing_key="gpu"),
    ),
    task_default_queue="default",
    task_default_exchange="default",
    task_default_routing_key="default",
    task_routes={"reader_study.tasks.gpu.*": {"queue": "gpu"}},
    # Acknowledge after the task ends and requeue it if the worker dies, so a
    # killed worker's job is picked up again (tasks are idempotent by design).
    task_acks_late=True,
    task_reject_on_worker_lost=True,
    worker_prefetch_multiplier=1,
    worker_max_tasks_per_child=50,
    # A new pool process imports torch before it reports for work (tasks.gpu), which takes
    # seconds and longer on a busy machine; under Celery's default of 4 s every replacement
    # process (after a lost broker connection, a killed child, max_tasks_per_child) is
    # killed as hung and replaced again, forever, and the worker never runs another task.
    worker_proc_alive_timeout=120,
    worker_cancel_long_running_tasks_on_connection_loss=True,
    task_track_started=True,
    task_serializer="json",
    result_serializer="json",
    accept_content=["json"],
    result_expires=7 * 24 * 3600,
    broker_connection_retry_on_startup=True,
    task_always_eager=False,
)

# The job sweeper (reader_study.jobs.sweeper): run by exactly one celery beat per
# deployment (`make run` starts it inside its worker with -B; scaled out, one
# `celery -A ldct_web beat` process). Its schedule file lives in var/.
from django.conf import settings  # noqa: E402  (after DJANGO_SETTINGS_MODULE is set)

app.conf.beat_schedule = {
    "sweep-lost-jobs": {
        "task": "reader_study.tasks.maintenance.sweep_jobs",
        "schedule": float(os.environ.get("LDCT_JOB_SWEEP_SECONDS", "60")),
        "options": {"queue": "default", "expires": 300},
    }
}
app.conf.beat_schedule_filename = str(settings.VAR_DIR / "celerybeat-schedule")


@app.on_after_configure.connect
def _make_embedded_folders(sender: Celery, **_: object) -> None:
    """The filesystem broker and file result backend need their folders to exist."""
    options = sender.conf.broker_transport_options or {}
    for key in ("data_folder_in", "data_folder_out", "processed_folder", "control_folder"):
        if options.get(key):
            Path(options[key]).mkdir(parents=True, exist_ok=True)
    backend = str(sender.conf.result_backend or "")
    if backend.startswith("file://"):
        Path(backend.removeprefix("file://")).mkdir(parents=True, exist_ok=True)


# The embedded broker is polled: every 0.1 s (kombu's default is 1 s) so a job starts
# almost as soon as it is queued; listing one local folder that often costs nothing.
# Kept last: reading app.conf finalises the configuration.
if str(app.conf.broker_url or "").startswith("filesystem"):
    app.conf.broker_transport_options = {
        "polling_interval": 0.1,
        **(app.conf.broker_transport_options or {}),
    }
