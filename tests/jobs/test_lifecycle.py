"""Job rows as the truth: claim, fence, heartbeat, sweeper, cancel, retry (no worker needed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from reader_study.jobs import broker, config, lifecycle, sweeper
from reader_study.jobs.launch import request_denoise
from reader_study.models import DenoiseJob, JobState
from tests.jobs.factories import ingest_case, register_tiny

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(fake_broker, researcher, django_capture_on_commit_callbacks) -> DenoiseJob:
    register_tiny()
    with django_capture_on_commit_callbacks(execute=True):
        case = ingest_case(researcher, "c1")
    return case.denoise_jobs.get()


def test_ingest_queues_one_job_for_the_default_model_after_commit(job, fake_broker):
    assert job.state == JobState.QUEUED and job.denoiser_model.is_default
    assert fake_broker.sent == [(lifecycle.dispatch.DENOISE_TASK, [job.pk], "gpu")]
    assert job.celery_task_id == "task-1"


def test_no_job_when_ingest_rolls_back(fake_broker, researcher, django_capture_on_commit_callbacks):
    from django.db import transaction

    register_tiny()
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        ingest_case(researcher, "rolled-back")
        raise RuntimeError("ingest failed late")
    assert not DenoiseJob.objects.exists() and fake_broker.sent == []


def test_only_one_claim_wins(job):
    first = lifecycle.claim(DenoiseJob, job.pk, hostname="a@h")
    second = lifecycle.claim(DenoiseJob, job.pk, hostname="b@h")
    assert first is not None and first.number == 1 and second is None
    job.refresh_from_db()
    assert job.state == JobState.RUNNING and job.worker.startswith("a@h#")


def test_a_lost_attempt_cannot_finish(job, fake_broker, django_capture_on_commit_callbacks):
    old = lifecycle.claim(DenoiseJob, job.pk, hostname="a@h")
    DenoiseJob.objects.filter(pk=job.pk).update(heartbeat_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        assert sweeper.sweep()["requeued"] == 1
    new = lifecycle.claim(DenoiseJob, job.pk, hostname="b@h")
    assert new.number == 2
    assert old.beat() is False and old.lost.is_set()
    with pytest.raises(lifecycle.AttemptLost):
        lifecycle.succeed(old)
    lifecycle.succeed(new)
    job.refresh_from_db()
    assert job.state == JobState.SUCCEEDED and job.attempts == 2
    assert len(fake_broker.sent) == 2  # the first message and the sweeper's


def test_sweeper_fails_the_job_after_max_attempts(job):
    DenoiseJob.objects.filter(pk=job.pk).update(max_attempts=1)
    lifecycle.claim(DenoiseJob, job.pk, hostname="a@h")
    later = timezone.now() + timedelta(seconds=config.STALE_SECONDS + 1)
    assert sweeper.sweep(now=later)["failed"] == 1
    job.refresh_from_db()
    assert job.state == JobState.FAILED and "Stopped after 1 attempts" in job.message


def test_sweeper_leaves_live_and_waiting_jobs_alone(job, monkeypatch):
    running = lifecycle.claim(DenoiseJob, job.pk, hostname="a@h")
    assert running.beat()
    assert sweeper.sweep() == {"requeued": 0, "failed": 0, "resent": 0, "skipped": 0}


def test_sweeper_resends_a_queued_job_whose_message_is_gone(job, fake_broker, monkeypatch):
    later = timezone.now() + timedelta(seconds=config.QUEUED_GRACE_SECONDS + 1)
    monkeypatch.setattr(broker, "waiting_task_ids", lambda app, queue: {"task-1"})
    assert sweeper.sweep(now=later)["resent"] == 0  # still waiting in line: left alone
    monkeypatch.setattr(broker, "waiting_task_ids", lambda app, queue: set())
    later = later + timedelta(seconds=config.QUEUED_GRACE_SECONDS + 1)
    assert sweeper.sweep(now=later)["resent"] == 1
    assert fake_broker.job_ids() == [job.pk, job.pk]


def test_cancel_and_retry(job, fake_broker, django_capture_on_commit_callbacks):
    attempt = lifecycle.claim(DenoiseJob, job.pk, hostname="a@h")
    lifecycle.cancel(job, by="rita")
    assert attempt.beat() is False  # the running attempt notices and stops
    with pytest.raises(lifecycle.JobActionError):
        lifecycle.cancel(job)
    with django_capture_on_commit_callbacks(execute=True):
        lifecycle.retry(job)
    job.refresh_from_db()
    assert (job.state, job.attempts, job.message) == (JobState.QUEUED, 0, "")
    assert fake_broker.job_ids() == [job.pk, job.pk]
    with pytest.raises(lifecycle.JobActionError, match="Only failed or cancelled"):
        lifecycle.retry(job)


def test_request_denoise_is_idempotent(job, researcher):
    again, outcome = request_denoise(job.case, job.denoiser_model, researcher)
    assert again.pk == job.pk and outcome == "already queued"


def test_filesystem_broker_inspection_reads_waiting_task_ids(tmp_path):
    import json

    folder = tmp_path / "queue"
    folder.mkdir()
    (folder / "1_x.gpu.msg").write_text(json.dumps({"headers": {"id": "abc"}}))
    (folder / "2_y.default.msg").write_text(json.dumps({"headers": {"id": "other"}}))
    app = type(
        "App",
        (),
        {
            "conf": type(
                "C",
                (),
                {
                    "broker_url": "filesystem://",
                    "broker_transport_options": {"data_folder_in": str(folder)},
                },
            )
        },
    )
    assert broker.waiting_task_ids(app, "gpu") == {"abc"}


def test_a_broker_outage_at_enqueue_leaves_the_job_for_the_sweeper(
    fake_broker, researcher, monkeypatch, django_capture_on_commit_callbacks
):
    register_tiny()

    def down(*args, **kwargs):
        raise ConnectionError("broker unreachable")

    monkeypatch.setattr(fake_broker, "send_task", down)
    with django_capture_on_commit_callbacks(execute=True):
        case = ingest_case(researcher, "during-outage")  # the upload itself still succeeds
    job = case.denoise_jobs.get()
    assert job.state == JobState.QUEUED and job.celery_task_id == ""
    monkeypatch.undo()
    monkeypatch.setattr(lifecycle.dispatch, "celery_app", lambda: fake_broker)
    monkeypatch.setattr(broker, "waiting_task_ids", lambda app, queue: set())
    later = timezone.now() + timedelta(seconds=config.QUEUED_GRACE_SECONDS + 1)
    assert sweeper.sweep(now=later)["resent"] == 1
    assert fake_broker.job_ids() == [job.pk]
