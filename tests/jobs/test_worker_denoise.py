"""Denoising through real worker processes, on the embedded broker and on Redis."""

from __future__ import annotations

import os

import numpy as np
import pydicom
import pytest
from django.core.files.storage import default_storage
from django.test import Client
from django.urls import reverse

from reader_study.jobs import denoise, dispatch
from reader_study.jobs.launch import request_denoise
from reader_study.models import Case, DenoiseJob, JobState
from tests.jobs.conftest import FAST_JOBS
from tests.jobs.factories import (
    SLICES,
    denoised_series,
    ingest_case,
    job_for,
    phantom_volume,
    register_broken,
    register_tiny,
    wait_for,
    wait_until,
)
from tests.workers import running_worker, start_worker

# serialized_rollback: the flush after a transactional test drops the role groups of the
# data migration; this brings them back for the next test.
pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

GEOMETRY = (
    "ImagePositionPatient",
    "ImageOrientationPatient",
    "PixelSpacing",
    "SliceThickness",
    "FrameOfReferenceUID",
    "StudyInstanceUID",
    "Rows",
    "Columns",
)


def _read(series):
    return [pydicom.dcmread(i.file.open("rb")) for i in series.instances.order_by("slice_position")]


def test_ingested_case_is_denoised_once_and_a_bad_model_fails_cleanly(jobs_env, researcher):
    model = register_tiny()
    broken = register_broken()
    with running_worker(jobs_env, extra_env=FAST_JOBS) as worker:
        case = ingest_case(researcher, "phantom-1")  # case_ready -> job for the default model
        job = wait_for(DenoiseJob, job_for(case, model).pk, workers=[worker])
        assert job.state == JobState.SUCCEEDED, job.message
        assert (job.attempts, job.progress_done, job.progress_total) == (1, SLICES, SLICES)

        # A redelivered message for a finished job changes nothing.
        jobs_env.client().send_task(dispatch.DENOISE_TASK, args=[job.pk], queue="gpu").get(60)

        bad = request_denoise(case, broken, researcher)[0]
        bad = wait_for(DenoiseJob, bad.pk, workers=[worker])

    (series,) = denoised_series(case, model)
    assert job.output_series_id == series.pk and series.num_instances == SLICES
    originals, derived = _read(case.original_series), _read(series)
    assert len(derived) == SLICES == series.instances.count()
    for src, out in zip(originals, derived, strict=True):
        for keyword in GEOMETRY:
            assert out.get(keyword) == src.get(keyword), keyword
        assert list(out.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert f"{model.name} version {model.version}" in out.DerivationDescription
        assert "denoised" in out.SeriesDescription
        assert out.SeriesInstanceUID == series.series_instance_uid != src.SeriesInstanceUID
        assert out.SourceImageSequence[0].ReferencedSOPInstanceUID == src.SOPInstanceUID
    before = np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in originals]
    )
    after = np.stack(
        [d.pixel_array * float(d.RescaleSlope) + float(d.RescaleIntercept) for d in derived]
    )
    _, body = phantom_volume()
    assert np.abs(after - before)[:, body].mean() > 0.5  # changed where the noise is

    # The derived series is part of the case's DICOM study, for the owner's DICOMweb client.
    web = Client()
    web.force_login(researcher)
    study = web.get(reverse("dicomweb:study-series", args=[case.study_instance_uid]))
    uids = {item["0020000E"]["Value"][0] for item in study.json()}
    assert uids == {case.original_series.series_instance_uid, series.series_instance_uid}

    assert bad.state == JobState.FAILED
    assert "could not be loaded" in bad.message and "broken 1" in bad.message
    assert not denoised_series(case, broken).exists()
    case.refresh_from_db()
    assert case.status == Case.Status.READY and case.original_series is not None
    # Only the registered series' files are in storage: nothing half-written anywhere.
    folders, _ = default_storage.listdir(denoise.output_folder(job))
    assert folders == ["a1"]


def test_two_workers_process_each_job_once(jobs_env, researcher):
    register_tiny()
    slow = {**FAST_JOBS, "LDCT_TEST_BATCH_DELAY_SECONDS": "0.5"}
    with (
        running_worker(jobs_env, name="a", extra_env=slow) as a,
        running_worker(jobs_env, name="b", extra_env=slow) as b,
    ):
        cases = [ingest_case(researcher, f"case-{i}", seed=i) for i in range(3)]
        jobs = [wait_for(DenoiseJob, c.denoise_jobs.get().pk, workers=[a, b]) for c in cases]
    assert [j.state for j in jobs] == [JobState.SUCCEEDED] * 3
    assert [j.attempts for j in jobs] == [1, 1, 1]
    assert {j.worker.split("#")[0].split("-")[0] for j in jobs} == {"a", "b"}  # both took work
    for case in cases:
        assert case.series.filter(kind="denoised").count() == 1
    claims = a.log().count("claimed DenoiseJob") + b.log().count("claimed DenoiseJob")
    assert claims == 3


def test_sigkilled_worker_job_is_swept_and_finished_once(jobs_env, researcher):
    """SIGKILL of the pool process: Celery re-delivers and the same worker resumes it.
    Then SIGKILL of the whole worker and a new worker: the sweeper re-queues it.
    Exactly one complete derived series results, and no partial files remain."""
    model = register_tiny()
    slow = {**FAST_JOBS, "LDCT_TEST_BATCH_DELAY_SECONDS": "3"}
    doomed = start_worker(jobs_env, name="doomed", extra_env=slow)
    try:
        case = ingest_case(researcher, "killed-mid-job")
        job = job_for(case, model)
        for attempt in (1, 2):
            wait_until(
                lambda attempt=attempt: DenoiseJob.objects.filter(
                    pk=job.pk, attempts=attempt, progress_done__gt=0
                ).exists(),
                what=f"attempt {attempt} to denoise its first batch",
                workers=[doomed],
            )
            if attempt == 1:  # only the pool process, as the kernel's OOM killer would
                os.kill(int(DenoiseJob.objects.get(pk=job.pk).worker.rpartition("#")[2]), 9)
    finally:
        doomed.kill()  # SIGKILL to the whole worker: main process and pool process
    killed = DenoiseJob.objects.get(pk=job.pk)
    assert killed.state == JobState.RUNNING and killed.progress_done < SLICES

    with running_worker(jobs_env, name="rescuer", extra_env=FAST_JOBS) as rescuer:
        wait_until(  # until the heartbeat is stale, then the beat-scheduled sweep
            lambda: (
                jobs_env.client()
                .send_task(dispatch.SWEEP_TASK, queue="default")
                .get(timeout=60)["requeued"]
                == 1
            ),
            what="the sweeper to re-queue the job",
            workers=[rescuer],
        )
        done = wait_for(DenoiseJob, job.pk, workers=[rescuer])
    assert done.state == JobState.SUCCEEDED, done.message
    assert done.attempts == 3 and done.worker.startswith("rescuer")
    (series,) = denoised_series(case, model)
    assert series.instances.count() == SLICES
    folders, _ = default_storage.listdir(denoise.output_folder(done))
    assert folders == ["a3"]  # the killed attempts' partial files are gone
    _, files = default_storage.listdir(f"{denoise.output_folder(done)}/a3")
    assert len(files) == SLICES
