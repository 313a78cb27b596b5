"""Training: a few steps lower the loss, resume continues exactly, stop and progress hooks work."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

from denoiser import Denoiser
from denoiser.config import TrainConfig
from denoiser.cyclegan import CycleGAN
from denoiser.data import PatchSampler, hu_to_unit, unit_to_hu
from denoiser.pretrain import pretrain_encoder
from denoiser.train import lr_at, train
from tests.denoiser.tiny import tiny_config, tiny_data


def test_hu_normalisation_round_trip() -> None:
    hu = np.array([-3000.0, -1024.0, 0.0, 1024.0, 3072.0, 5000.0])
    unit = hu_to_unit(hu, -1024.0, 3072.0)
    assert unit.min() == -1.0 and unit.max() == 1.0
    assert np.allclose(unit_to_hu(unit, -1024.0, 3072.0)[1:5], hu[1:5])


def test_patches_are_foreground_aware(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, foreground_fraction=1.0, augment=True)
    sampler = PatchSampler(tiny_data().ld, cfg, np.random.default_rng(0))
    batch = sampler.sample(32)
    assert batch.shape == (32, 1, 24, 24)
    centres = batch[:, 0, 12, 12]
    assert (centres > hu_to_unit(np.array(-500.0), -1024, 3072)).all()


def test_a_few_steps_lower_the_losses(tmp_path: Path) -> None:
    # A GAN's losses are not monotone while both players move, so each player is checked
    # against a fixed opponent: D learns to separate LD from ND, then G learns to fool that D.
    cfg = tiny_config(tmp_path, lr=2e-3)
    torch.manual_seed(0)
    gan = CycleGAN(cfg, None)
    data = tiny_data()
    rng = np.random.default_rng(0)
    ld = PatchSampler(data.ld, cfg, rng).sample(4)
    nd = PatchSampler(data.nd, cfg, rng).sample(4)
    for g in gan.opt_G.param_groups:
        g["lr"] = 0.0
    d_losses = [gan.train_step(ld, nd)["D_total"] for _ in range(12)]
    assert d_losses[-1] < d_losses[0]
    gan.set_lr(2e-3)
    for g in gan.opt_D.param_groups:
        g["lr"] = 0.0
    g_losses = [gan.train_step(ld, nd)["total"] for _ in range(12)]
    assert g_losses[-1] < g_losses[0]


def test_lr_decays_linearly_in_second_half() -> None:
    cfg = TrainConfig(epochs=4, iters_per_epoch=10, lr=1.0)
    assert lr_at(cfg, 0) == 1.0 and lr_at(cfg, 19) == 1.0
    assert lr_at(cfg, 30) == 0.5 and lr_at(cfg, 40) == 0.0


def test_train_writes_logs_checkpoints_and_resumes(tmp_path: Path) -> None:
    events: list[dict] = []
    cfg = tiny_config(tmp_path / "run")
    result = train(cfg, progress=events.append, data=tiny_data())
    assert result.iterations == 6 and not result.stopped
    kinds = [e["event"] for e in events]
    assert kinds.count("epoch") == 2 and kinds[-1] == "done"
    epoch = next(e for e in events if e["event"] == "epoch")
    assert {"psnr", "ssim", "psnr_input", "liver_sd"} <= set(epoch["metrics"])
    json.dumps(events)  # the web worker stores them as JSON
    out = Path(cfg.out_dir)
    assert (out / "log.jsonl").read_text().count("\n") == 6
    assert (out / "metrics.csv").read_text().count("\n") == 3
    best = Denoiser.load(result.best_checkpoint, device="cpu")
    assert best.config["epochs"] == 2 and "psnr" in best.model_card["validation"]
    Denoiser.load(result.last_checkpoint, device="cpu")  # a training state loads too

    # Resume: two more epochs continue from iteration 6 instead of starting over.
    cfg.epochs = 4
    resumed = train(cfg, data=tiny_data())
    assert resumed.iterations == 12
    assert len(resumed.history) == 4


def test_resume_reproduces_an_uninterrupted_run(tmp_path: Path) -> None:
    straight = train(tiny_config(tmp_path / "a"), data=tiny_data())
    calls = {"n": 0}

    def stop_after_four() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    cfg_b = tiny_config(tmp_path / "b")
    interrupted = train(cfg_b, should_stop=stop_after_four, data=tiny_data())
    assert interrupted.stopped and interrupted.iterations == 4
    finished = train(cfg_b, data=tiny_data())
    assert finished.iterations == 6
    vol = tiny_data().val.ld
    a = Denoiser.load(straight.last_checkpoint, device="cpu").denoise(vol)
    b = Denoiser.load(finished.last_checkpoint, device="cpu").denoise(vol)
    assert np.allclose(a, b, atol=1e-3)


def test_perceptual_training_with_pretrained_encoder(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path, perceptual_net="ct_encoder", perceptual_share=0.1)
    data = tiny_data()
    path = pretrain_encoder(cfg, data=data)
    assert path.exists()
    result = train(cfg, data=data)
    assert result.iterations == 6
    log = [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]
    assert log[0]["lambda_perceptual"] > 0 and "perceptual" in log[0]["losses"]


def test_weight_average_is_what_is_validated_exported_and_resumed(tmp_path: Path) -> None:
    """With ema_decay, best.pt and last.pt hold the averaged generator, which lags the
    trained one; an interrupted run resumes the average exactly."""
    straight = train(tiny_config(tmp_path / "a", ema_decay=0.5, lr=2e-3), data=tiny_data())
    state = torch.load(straight.last_checkpoint, weights_only=False)["state"]
    average, current = state["G_ld2nd_ema"], state["G_ld2nd"]
    assert average.keys() == current.keys()
    assert any(not torch.equal(average[k], current[k]) for k in average)
    vol = tiny_data().val.ld
    exported = Denoiser.load(straight.last_checkpoint, device="cpu")
    assert all(torch.equal(v, average[k]) for k, v in exported.net.state_dict().items())
    # One validation, at the end: best.pt is the average it validated.
    once = train(tiny_config(tmp_path / "c", ema_decay=0.5, lr=2e-3, epochs=1), data=tiny_data())
    final = torch.load(once.last_checkpoint, weights_only=False)["state"]["G_ld2nd_ema"]
    best = Denoiser.load(once.best_checkpoint, device="cpu").net.state_dict()
    assert all(torch.equal(v, final[k]) for k, v in best.items())

    cfg_b = tiny_config(tmp_path / "b", ema_decay=0.5, lr=2e-3)
    calls = {"n": 0}

    def stop_after_four() -> bool:
        calls["n"] += 1
        return calls["n"] > 4

    assert train(cfg_b, should_stop=stop_after_four, data=tiny_data()).stopped
    finished = train(cfg_b, data=tiny_data())
    b = Denoiser.load(finished.last_checkpoint, device="cpu").denoise(vol)
    assert np.allclose(exported.denoise(vol), b, atol=1e-3)


def test_a_weight_average_outside_0_to_1_is_refused(tmp_path: Path) -> None:
    import pytest

    with pytest.raises(ValueError, match="ema_decay"):
        train(tiny_config(tmp_path, ema_decay=1.0), data=tiny_data())


def test_snapshots_keep_every_nth_epoch_in_half_precision(tmp_path: Path) -> None:
    cfg = tiny_config(tmp_path / "run", epochs=4, snapshot_every_epochs=2)
    train(cfg, data=tiny_data())
    snaps = sorted(p.name for p in (Path(cfg.out_dir) / "snapshots").iterdir())
    assert snaps == ["epoch_0002.pt", "epoch_0004.pt"]
    snap = Denoiser.load(Path(cfg.out_dir) / "snapshots" / "epoch_0002.pt", device="cpu")
    assert snap.model_card["validation"]["epoch"] == 2
    weights = torch.load(Path(cfg.out_dir) / "snapshots" / "epoch_0004.pt", weights_only=False)
    assert {t.dtype for t in weights["state_dict"].values()} == {torch.float16}


def test_a_metric_added_mid_run_widens_the_csv(tmp_path: Path) -> None:
    # A run resumed across a version that logs one more validation metric.
    from denoiser.train import _append_csv

    path = tmp_path / "metrics.csv"
    _append_csv(path, {"epoch": 1, "psnr": 30.0})
    _append_csv(path, {"epoch": 2, "psnr": 31.0, "nps_peak_ratio": 0.5})
    _append_csv(path, {"epoch": 3, "psnr": 32.0})
    with path.open() as fh:
        rows = list(csv.DictReader(fh))
    assert [r["epoch"] for r in rows] == ["1", "2", "3"]
    assert [r["nps_peak_ratio"] for r in rows] == ["", "0.5", ""]
    assert rows[2]["psnr"] == "32.0"


def test_negative_snapshot_interval_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="snapshot_every_epochs"):
        tiny_config(tmp_path, snapshot_every_epochs=-1).__post_init__()
