"""Training job internals in this process (the worker path is in test_worker_training.py)."""

from __future__ import annotations

import pytest

from reader_study.jobs import lifecycle, training
from reader_study.jobs.launch import launch_training
from reader_study.models import DenoiserModel, JobState, TrainingJob
from tests.jobs.factories import ingest_case, register_tiny
from tests.jobs.test_worker_training import TINY_OPTIONS

pytestmark = pytest.mark.django_db


@pytest.fixture
def job(fake_broker, researcher, settings, tmp_path):
    settings.VAR_DIR = tmp_path / "var"
    register_tiny()
    low = ingest_case(researcher, "ld", seed=1, noise_hu=60)
    normal = ingest_case(researcher, "nd", seed=2, noise_hu=10)
    return launch_training(researcher, "unit", TINY_OPTIONS, [low], [normal])


def run_cancelled_at(job, monkeypatch, kind: str, iteration: int) -> dict:
    """Runs the job, pressing Cancel when the progress event (kind, iteration) arrives."""
    attempt = lifecycle.claim(TrainingJob, job.pk, hostname="t@h")
    record = training.HistoryRecorder.__call__

    def cancel_at(self, event):
        record(self, event)
        if event["event"] == kind and event["iteration"] == iteration:
            lifecycle.cancel(job, by="rita")  # what the Cancel button does
            self.attempt.beat()  # the heartbeat thread notices within a second

    monkeypatch.setattr(training.HistoryRecorder, "__call__", cancel_at)
    return training.run(attempt)


def test_cancel_stops_training_at_the_next_iteration_and_registers_nothing(job, monkeypatch):
    assert run_cancelled_at(job, monkeypatch, "iteration", 1) == {"job": job.pk, "stopped": True}
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED and job.result_model is None
    assert not DenoiserModel.objects.filter(name="unit").exists()
    assert (training.out_dir_for(job) / "last.pt").exists()  # a retry resumes from here


def test_validation_pairs_held_out_normal_dose_slices(job):
    options = training.TrainingOptions.from_dict(TINY_OPTIONS)
    data, counts = training.build_data(job, options)
    assert counts == {"ld_slices": 8, "nd_slices": 6, "val_slices": 2}
    assert data.val.ld.shape == data.val.nd.shape == (2, 64, 64)
    # Simulated low dose: the normal-dose slice plus inserted noise, same anatomy on average.
    extra = data.val.ld - data.val.nd
    assert extra.std() > 0.1 and abs(float(extra.mean())) < 5


def test_options_are_checked():
    with pytest.raises(ValueError, match="patch size must be between 16 and 512"):
        training.TrainingOptions.from_dict({"patch_size": 8})


def test_the_shipped_recipe_with_its_warm_start_is_the_default(job, tmp_path):
    options = training.TrainingOptions.from_dict({})
    cfg = training.build_config(job, options, "1", tmp_path)
    assert cfg.warm_start_path == str(tmp_path / "warm_start.pt") and cfg.warm_iters == 3000
    assert (cfg.lambda_synthetic, cfg.lambda_adv, cfg.ema_decay) == (60.0, 0.3, 0.999)
    assert (cfg.lambda_cycle, cfg.cycle_lowpass_sigma, cfg.texture_blend_share) == (1.0, 2.0, 0.5)
    assert cfg.texture_blend_relative == [0.7, 1.4]  # the blend follows each slice's noise
    assert cfg.self_ensemble == 2  # the model it registers averages a slice and its mirror
    # The coarse-loss phase keeps its share of the shipped warm start (4500 of 6000), and the
    # synthetic noise takes every kernel's spectrum, as the shipped recipe's does.
    assert cfg.warm_coarse_iters == round(3000 * 4500 / 6000) and cfg.warm_coarse_weights[2] == 64
    assert cfg.warm_kernels == ["hann", "hamming", "cosine", "shepp-logan", "ramp", "edge"]
    assert cfg.lambda_self == 0.0 and cfg.data_source == "dicom" and cfg.warm_target == "nd"
    on = training.build_config(
        job, training.TrainingOptions.from_dict({"self_supervised_weight": 10}), "1", tmp_path
    )
    assert on.lambda_self == 10.0
    off = training.build_config(
        job, training.TrainingOptions.from_dict({"warm_start_iters": 0}), "1", tmp_path
    )
    assert off.warm_start_path == "" and off.lambda_synthetic == 0.0
    with pytest.raises(ValueError, match="warm start iters must be between 0 and 100000"):
        training.TrainingOptions.from_dict({"warm_start_iters": -1})


def test_progress_counts_the_warm_start_then_the_cyclegan(job):
    attempt = lifecycle.claim(TrainingJob, job.pk, hostname="t@h")
    recorder = training.HistoryRecorder(attempt, [], warm_iters=4, total=6)
    assert attempt.total == 10
    recorder({"event": "warm_start", "iteration": 2, "total_iterations": 4, "rmse_hu": 20.0})
    assert (attempt.done, attempt.total) == (2, 10)
    losses = {"total": 1.0}
    recorder(
        {"event": "iteration", "epoch": 1, "iteration": 3, "total_iterations": 6, "losses": losses}
    )
    assert (attempt.done, attempt.total) == (7, 10)
    assert [h["kind"] for h in recorder.history] == ["warm_start", "iteration"]


def test_a_resumed_cyclegan_replaces_the_entries_logged_after_its_saved_state(job):
    attempt = lifecycle.claim(TrainingJob, job.pk, hostname="t@h")
    earlier = [{"kind": "warm_start", "iteration": 4, "rmse_hu": 9.0}] + [
        {"kind": "iteration", "epoch": 1, "iteration": i, "losses": {"total": 1.0}}
        for i in (1, 2, 3)
    ]
    recorder = training.HistoryRecorder(attempt, earlier, warm_iters=4, total=6)
    # The crashed attempt saved its state after iteration 2 and logged 3 before it died.
    event = {"event": "iteration", "epoch": 1, "iteration": 3, "total_iterations": 6}
    recorder({**event, "losses": {"total": 0.5}})
    assert [(h["kind"], h["iteration"]) for h in recorder.history] == [
        ("warm_start", 4),
        ("iteration", 1),
        ("iteration", 2),
        ("iteration", 3),
    ]
    assert recorder.history[-1]["losses"] == {"total": 0.5}
    # The epoch that ends at iteration 3 keeps the iteration entry logged just before it.
    recorder({"event": "epoch", "epoch": 1, "iteration": 3, "total_iterations": 6, "metrics": {}})
    assert [h["kind"] for h in recorder.history][-2:] == ["iteration", "epoch"]
    # A saved state writes the history at once: a crash right after it leaves no gap.
    recorder({"event": "saved", "stage": "cyclegan", "iteration": 3})
    job.refresh_from_db()
    assert job.history == recorder.history and job.progress_done == 7


def test_cancel_during_the_warm_start_registers_nothing(job, monkeypatch):
    assert run_cancelled_at(job, monkeypatch, "warm_start", 2) == {"job": job.pk, "stopped": True}
    job.refresh_from_db()
    assert job.state == JobState.CANCELLED and job.result_model is None
    assert not (training.out_dir_for(job) / "warm_start.pt").exists()


def test_a_job_stored_before_the_warm_start_keeps_its_recipe(job, monkeypatch):
    job.options = {k: v for k, v in job.options.items() if k != "warm_start_iters"}
    job.save(update_fields=["options"])
    seen = []
    monkeypatch.setattr(training, "build_config", _spy(training.build_config, seen))
    attempt = lifecycle.claim(TrainingJob, job.pk, hostname="t@h")
    training.run(attempt)
    assert seen[0].warm_start_path == "" and seen[0].lambda_synthetic == 0.0
    job.refresh_from_db()
    assert "No warm start" in job.result_model.model_card


def test_a_resumed_job_does_not_redo_its_warm_start(job, monkeypatch):
    from denoiser import warmstart

    out = training.out_dir_for(job)
    out.mkdir(parents=True)
    options = training.TrainingOptions.from_dict(job.options)
    cfg = training.build_config(job, options, "1", out)
    data, _ = training.build_data(job, options)
    warmstart.pretrain_generator(cfg, data=data)
    from denoiser.train import Trainer

    Trainer(cfg, data=data).save_last()  # what an earlier attempt left
    (out / "warm_start.pt").unlink()
    monkeypatch.setattr(warmstart, "pretrain_generator", _fail)
    attempt = lifecycle.claim(TrainingJob, job.pk, hostname="t@h")
    assert training.run(attempt)["model"]


def test_a_warm_start_cut_short_resumes_and_logs_each_iteration_once(job, monkeypatch):
    from denoiser import warmstart

    out = training.out_dir_for(job)
    options = training.TrainingOptions.from_dict(job.options)
    cfg = training.build_config(job, options, "1", out)
    data, _ = training.build_data(job, options)
    # What a crashed attempt left: its state after iteration 2, its history up to iteration 3.
    warmstart.pretrain_generator(cfg, data=data, should_stop=iter([False, False, True]).__next__)
    job.history = [{"kind": "warm_start", "iteration": i, "rmse_hu": 9.0} for i in (1, 2, 3)]
    job.save(update_fields=["history"])
    attempt = lifecycle.claim(TrainingJob, job.pk, hostname="t@h")
    assert training.run(attempt)["model"]
    job.refresh_from_db()
    warm = [h for h in job.history if h["kind"] == "warm_start"]
    assert [h["iteration"] for h in warm] == [1, 2, 3, 4]
    assert [h["rmse_hu"] for h in warm][:2] == [9.0, 9.0]  # kept, the rest logged again
    assert warm[2]["rmse_hu"] != 9.0
    assert not out.exists()  # the job's files go once the model is registered


def _spy(func, seen):
    def wrapper(*args, **kwargs):
        seen.append(func(*args, **kwargs))
        return seen[-1]

    return wrapper


def _fail(*args, **kwargs):
    raise AssertionError("the warm start ran again")
