"""Training from the platform through a real worker: unpaired cases in, a model version out."""

from __future__ import annotations

import pytest

from reader_study.jobs.launch import launch_training, request_denoise
from reader_study.models import DenoiseJob, JobState, TrainingJob
from tests.jobs.conftest import FAST_JOBS
from tests.jobs.factories import denoised_series, ingest_case, register_tiny, wait_for
from tests.workers import running_worker

pytestmark = [pytest.mark.worker, pytest.mark.django_db(transaction=True, serialized_rollback=True)]

TINY_OPTIONS = {
    "epochs": 2,
    "iters_per_epoch": 3,
    "batch_size": 2,
    "patch_size": 24,
    "base_width": 4,
    "val_slices": 2,
    "perceptual": False,
    "warm_start_iters": 4,
}


def test_training_job_registers_a_model_that_denoises_a_case(jobs_env, researcher):
    register_tiny()  # the default, so ingested cases get their own (unrelated) jobs
    with running_worker(jobs_env, extra_env=FAST_JOBS) as worker:
        low = ingest_case(researcher, "low-dose", seed=1, noise_hu=60.0)
        normal = ingest_case(researcher, "normal-dose", seed=2, noise_hu=10.0)
        job = launch_training(researcher, "platform-model", TINY_OPTIONS, [low], [normal])
        job = wait_for(TrainingJob, job.pk, workers=[worker])
        assert job.state == JobState.SUCCEEDED, job.message
        model = job.result_model
        denoise_job, _ = request_denoise(low, model, researcher)
        denoise_job = wait_for(DenoiseJob, denoise_job.pk, workers=[worker])

    assert (model.name, model.version) == ("platform-model", "1")
    assert model.created_by == researcher and len(model.sha256) == 64
    assert "low-dose" in model.model_card and "normal-dose" in model.model_card
    assert "Warm start: 4 iterations" in model.model_card
    epochs = [h for h in job.history if h["kind"] == "epoch"]
    iterations = [h for h in job.history if h["kind"] == "iteration"]
    assert [e["epoch"] for e in epochs] == [1, 2]
    assert {"psnr", "ssim", "psnr_input"} <= set(epochs[-1]["metrics"])
    assert len(iterations) == 6 and "total" in iterations[0]["losses"]
    # Progress counts the 4 warm-start iterations, then the 6 of the CycleGAN.
    assert job.progress_total == 10
    assert [h["iteration"] for h in job.history if h["kind"] == "warm_start"] == [1, 2, 3, 4]
    assert "psnr" in model.metrics
    assert denoise_job.state == JobState.SUCCEEDED, denoise_job.message
    assert denoised_series(low, model).get().num_instances == 8
