"""The denoiser's self-supervised warm start: FBP-shaped noise, training, loading."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from denoiser import Denoiser
from denoiser.checkpoint import CheckpointError
from denoiser.networks import GeneratorSpec
from denoiser.train import Trainer
from denoiser.warmstart import fbp_like_noise, pretrain_generator, resume_path
from tests.denoiser.tiny import tiny_config, tiny_data


def radial_power(noise: torch.Tensor) -> tuple[np.ndarray, np.ndarray]:
    """(radius in cycles/pixel, mean power) of a batch of noise images."""
    power = (torch.fft.fft2(noise[:, 0]).abs() ** 2).mean(0).numpy()
    f = np.fft.fftfreq(noise.shape[-1])
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    bins = np.round(radius * 64).astype(int)
    mean = np.bincount(bins.ravel(), power.ravel()) / np.bincount(bins.ravel())
    return np.arange(len(mean)) / 64, mean


def test_fbp_noise_has_its_sd_and_a_ramp_hann_spectrum() -> None:
    gen = torch.Generator().manual_seed(0)
    sd = torch.tensor([0.01, 0.02, 0.04, 0.08])
    noise = fbp_like_noise((4, 1, 64, 64), sd, torch.full((4,), 1.0), gen)
    assert torch.allclose(noise.std(dim=(1, 2, 3)), sd, rtol=1e-4)
    big = fbp_like_noise((64, 1, 64, 64), torch.full((64,), 1.0), torch.full((64,), 1.0), gen)
    radius, power = radial_power(big)
    # Ramp: no power at zero frequency, rising at first; Hann: falling to zero at Nyquist.
    assert power[0] < 1e-6 * power.max()
    assert power[2] < power[4] < power[8] > power[16] > power[24]
    # |f| (0.5 + 0.5 cos(2 pi f))^2 peaks at 0.15 cycles/pixel, as the simulator's noise does.
    assert 0.12 < radius[np.argmax(power)] < 0.18
    assert power[radius >= 0.5].max() < 0.01 * power.max()


def test_a_smoother_kernel_or_flatter_ramp_moves_the_noise_to_lower_frequencies() -> None:
    def mean_frequency(cutoff: float, exponent: float = 1.0) -> float:
        gen = torch.Generator().manual_seed(1)
        full = torch.full((32,), 1.0)
        n = fbp_like_noise((32, 1, 64, 64), full, cutoff * full, gen, exponent * full)
        radius, power = radial_power(n)
        return float((radius * power).sum() / power.sum())

    assert mean_frequency(0.7) < 0.85 * mean_frequency(1.3)
    assert mean_frequency(1.0, 0.3) < 0.85 * mean_frequency(1.0, 1.0)


def test_warm_start_learns_to_denoise_and_is_a_loadable_generator(tmp_path: Path) -> None:
    path = tmp_path / "warm.pt"
    data = tiny_data()
    # The tiny test generator is too small to learn this; one a little wider does in ~4 s.
    spec = GeneratorSpec(base_width=8, depth=3, max_width=16, stem=1, res_blocks=1)
    cfg = tiny_config(tmp_path, warm_start_path=str(path), warm_iters=400, lr=2e-3)
    cfg.generator, cfg.patch_size, cfg.log_every, cfg.checkpoint_every = spec, 32, 100, 200
    events = []
    assert pretrain_generator(cfg, progress=events.append, data=data) == path
    assert _logged(events) == [100, 200, 300, 400]
    warm = Denoiser.load(path, device="cpu")
    assert "warm-start" in warm.name
    # On an image it has not seen, with noise it has not seen, it removes noise.
    ref = data.val.nd[0]
    gen = torch.Generator().manual_seed(99)
    noise = fbp_like_noise((1, 1, *ref.shape), torch.tensor([30.0]), torch.tensor([1.0]), gen)
    noisy = ref + noise[0, 0].numpy()
    body = ref > -500
    error = np.abs(warm.denoise(noisy) - ref)[body].mean()
    assert error < 0.8 * np.abs(noisy - ref)[body].mean()


def test_training_starts_from_the_warm_start(tmp_path: Path) -> None:
    data = tiny_data()
    path = tmp_path / "warm.pt"
    cfg = tiny_config(tmp_path, warm_start_path=str(path), warm_iters=5, ema_decay=0.9)
    pretrain_generator(cfg, data=data)
    warm = torch.load(path, weights_only=False)["state_dict"]
    trainer = Trainer(cfg, data=data)
    for net in (trainer.model.G_ld2nd, trainer.ema.net):
        assert all(torch.equal(v, warm[k]) for k, v in net.state_dict().items())
    # The re-noising generator still starts as the identity.
    assert not torch.equal(trainer.model.G_nd2ld.state_dict()["head.weight"], warm["head.weight"])


def test_a_missing_or_unfitting_warm_start_is_a_clear_error(tmp_path: Path) -> None:
    data = tiny_data()
    missing = tiny_config(tmp_path, warm_start_path=str(tmp_path / "nowhere.pt"))
    with pytest.raises(FileNotFoundError, match="nowhere.pt does not exist"):
        Trainer(missing, data=data)
    path = tmp_path / "warm.pt"
    pretrain_generator(tiny_config(tmp_path, warm_start_path=str(path), warm_iters=2), data=data)
    wider = tiny_config(tmp_path, warm_start_path=str(path))
    wider.generator = GeneratorSpec(base_width=8, depth=4, max_width=8, stem=2, res_blocks=1)
    with pytest.raises(CheckpointError, match="weights do not fit"):
        Trainer(wider, data=data)
    with pytest.raises(ValueError, match="warm_start_path is empty"):
        pretrain_generator(tiny_config(tmp_path), data=data)


def test_synthetic_term_trains_the_denoiser_on_noise_it_adds_to_nd(tmp_path: Path) -> None:
    from denoiser.cyclegan import CycleGAN
    from denoiser.data import hu_to_unit

    cfg = tiny_config(tmp_path, lambda_synthetic=10.0, warm_noise_sd_hu=[20.0, 20.0])
    torch.manual_seed(0)
    gan = CycleGAN(cfg, None)
    nd = hu_to_unit(torch.full((2, 1, 32, 32), 40.0), -1024.0, 3072.0)
    terms = gan.generator_losses(nd, nd)
    # Untrained, the denoiser is the identity: the term is the mean |noise| of 20 HU SD.
    hu = terms["synthetic"].item() * 2048.0
    assert 0.7 * 20 < hu < 0.9 * 20
    assert gan.loss_weights()["synthetic"] == 10.0
    gan.zero_grad()
    terms["synthetic"].backward()
    assert gan.G_ld2nd.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in gan.G_nd2ld.parameters())
    assert "synthetic" not in CycleGAN(tiny_config(tmp_path), None).generator_losses(nd, nd)


def test_warm_start_draws_the_ramp_exponent_from_its_range(tmp_path: Path, monkeypatch) -> None:
    from denoiser import warmstart

    seen: list[torch.Tensor] = []
    real = warmstart.fbp_like_noise

    def spy(shape, sd, cutoff, gen, ramp_exponent=None, kernel_names=None):
        seen.append(ramp_exponent)
        return real(shape, sd, cutoff, gen, ramp_exponent, kernel_names)

    monkeypatch.setattr(warmstart, "fbp_like_noise", spy)
    path = str(tmp_path / "warm.pt")
    for bounds in ([0.3, 0.6], [1.0, 1.0]):
        seen.clear()
        cfg = tiny_config(tmp_path, warm_start_path=path, warm_iters=3, warm_ramp_exponent=bounds)
        pretrain_generator(cfg, data=tiny_data())
        # The CycleGAN's synthetic term draws the same way.
        warmstart.add_synthetic_noise(torch.zeros(2, 1, 16, 16), cfg)
        drawn = torch.cat(seen)
        assert len(seen) == 4 and bounds[0] <= drawn.min() and drawn.max() <= bounds[1]
        assert len(set(drawn.tolist())) > 1 or bounds[0] == bounds[1]
    assert torch.equal(drawn, torch.ones_like(drawn))


@pytest.mark.parametrize(
    ("option", "value", "message"),
    [
        ("warm_kernel_cutoff", [0.0, 1.0], "warm_kernel_cutoff must be two numbers"),
        ("warm_ramp_exponent", [-0.5, 1.0], "warm_ramp_exponent must be two numbers"),
        ("warm_noise_sd_hu", 20.0, "warm_noise_sd_hu must be two numbers"),
        ("warm_noise_sd_hu", [40.0, 5.0], "low <= high"),
        ("warm_iters", 0, "warm_iters must be at least 1"),
        ("texture_sigma", 0.0, "texture_sigma must be above 0"),
        ("lambda_synthetic", -1.0, "lambda_synthetic must be at least 0"),
        ("warm_coarse_weights", [1.0, 2.0], "warm_coarse_weights must be three weights"),
        ("warm_coarse_weights", [1.0, -2.0, 1.0], "warm_coarse_weights must be three weights"),
        ("warm_coarse_iters", 4000, "warm_coarse_iters must be 0 to warm_iters"),
        ("texture_blend_share", 2.0, "texture_blend_share must be 0 to 1"),
        ("warm_windows_hu", [[80.0, 0.0]], "warm_windows_hu must be \\[low, high\\] HU pairs"),
        ("warm_windows_hu", [[0.0]], "warm_windows_hu must be \\[low, high\\] HU pairs"),
        ("warm_windows_hu", [-160.0, 240.0], "warm_windows_hu must be \\[low, high\\] HU pairs"),
        ("warm_lr_final", 1.0, "warm_lr_final must be 0 to lr"),
    ],
)
def test_warm_start_options_that_would_train_silently_wrong_are_refused(option, value, message):
    from denoiser.config import TrainConfig

    with pytest.raises(ValueError, match=message):
        TrainConfig.from_dict({option: value})


def test_a_resumed_run_needs_no_warm_start_file(tmp_path: Path) -> None:
    from denoiser.train import train

    data = tiny_data()
    path = tmp_path / "warm.pt"
    cfg = tiny_config(tmp_path, warm_start_path=str(path), warm_iters=2, epochs=1)
    pretrain_generator(cfg, data=data)
    first = train(cfg, data=data)
    path.unlink()  # e.g. cleaned up: the run's own last.pt holds the weights now
    cfg.epochs = 2
    again = train(cfg, data=data)
    assert (first.iterations, again.iterations) == (3, 6)
    with pytest.raises(FileNotFoundError):
        train(cfg, data=data, resume=False)


def _logged(events: list[dict]) -> list[int]:
    return [e["iteration"] for e in events if e["event"] == "warm_start"]


def _weights(path: Path) -> dict[str, torch.Tensor]:
    from denoiser.checkpoint import load_checkpoint_file

    return load_checkpoint_file(path)["state_dict"]


def test_a_stopped_warm_start_resumes_where_it_stopped_to_the_same_weights(tmp_path: Path) -> None:
    data = tiny_data()
    whole = tmp_path / "whole.pt"
    pretrain_generator(tiny_config(tmp_path, warm_start_path=str(whole), warm_iters=6), data=data)
    cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / "cut.pt"), warm_iters=6)
    polls = iter(range(100))
    # Polled before each iteration: iterations 1 to 3 run, the fourth poll stops the run.
    assert pretrain_generator(cfg, data=data, should_stop=lambda: next(polls) >= 3) is None
    assert resume_path(cfg).exists() and not Path(cfg.warm_start_path).exists()
    events: list[dict] = []
    pretrain_generator(cfg, progress=events.append, data=data)
    assert events[0] == {"event": "warm_start_resumed", "iteration": 3}
    assert _logged(events) == [4, 5, 6]
    # Each saved state is announced, so a platform job can store its history with it.
    assert {"event": "saved", "stage": "warm_start", "iteration": 4} in events
    assert not resume_path(cfg).exists()  # finished: the state is gone, the warm start written
    whole_w, cut_w = _weights(whole), _weights(Path(cfg.warm_start_path))
    assert all(torch.equal(whole_w[k], cut_w[k]) for k in whole_w)


def test_a_crashed_warm_start_loses_at_most_checkpoint_every_iterations(tmp_path: Path) -> None:
    data = tiny_data()
    cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / "w.pt"), warm_iters=6)

    def crash_at_5(event: dict) -> None:
        if event.get("iteration") == 5:
            raise RuntimeError("worker killed")

    with pytest.raises(RuntimeError, match="worker killed"):
        pretrain_generator(cfg, progress=crash_at_5, data=data)
    events: list[dict] = []
    pretrain_generator(cfg, progress=events.append, data=data)
    # checkpoint_every is 2: the state of iteration 4 was saved, iteration 5 is redone.
    assert events[0] == {"event": "warm_start_resumed", "iteration": 4}
    assert [e["iteration"] for e in events[1:]] == [5, 6]


def test_a_saved_warm_start_of_another_recipe_or_damaged_is_not_resumed(tmp_path: Path) -> None:
    data = tiny_data()
    cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / "w.pt"), warm_iters=4)
    pretrain_generator(cfg, data=data, should_stop=iter([False, False, True]).__next__)
    other = tiny_config(tmp_path, warm_start_path=cfg.warm_start_path, warm_iters=4)
    other.warm_noise_sd_hu = [10.0, 20.0]
    events: list[dict] = []
    pretrain_generator(other, progress=events.append, data=data, should_stop=lambda: True)
    assert events[0]["event"] == "warm_start_restarted"
    assert "other warm_noise_sd_hu" in events[0]["reason"]
    resume_path(cfg).write_bytes(b"half a file")
    events.clear()
    pretrain_generator(cfg, progress=events.append, data=data)
    assert events[0]["event"] == "warm_start_restarted"
    assert "could not be resumed" in events[0]["reason"]
    assert _logged(events) == [1, 2, 3, 4]
    assert pretrain_generator(cfg, data=data, should_stop=iter([False, True]).__next__) is None
    events.clear()
    pretrain_generator(cfg, progress=events.append, data=data, resume=False)
    assert events[0]["event"] == "warm_start"  # afresh, nothing said
    assert _logged(events) == [1, 2, 3, 4]


def test_a_longer_run_continues_a_shorter_one_and_a_shorter_one_starts_afresh(tmp_path) -> None:
    data = tiny_data()
    cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / "w.pt"), warm_iters=4)
    pretrain_generator(cfg, data=data, should_stop=iter([False, False, False, True]).__next__)
    events: list[dict] = []
    cfg.warm_iters = 2
    pretrain_generator(cfg, progress=events.append, data=data, should_stop=lambda: True)
    assert "past warm_iters" in events[0]["reason"]
    cfg.warm_iters = 4
    pretrain_generator(cfg, data=data, should_stop=iter([False, False, False, True]).__next__)
    events.clear()
    cfg.warm_iters = 6
    pretrain_generator(cfg, progress=events.append, data=data)
    assert events[0] == {"event": "warm_start_resumed", "iteration": 3}
    assert _logged(events) == [4, 5, 6]


def test_a_state_that_fails_halfway_through_loading_leaves_nothing_of_it(tmp_path) -> None:
    from denoiser import checkpoint as ckpt

    data = tiny_data()
    cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / "w.pt"), warm_iters=3)
    pretrain_generator(cfg, data=data, should_stop=iter([False, False, True]).__next__)
    payload = ckpt.load_checkpoint_file(resume_path(cfg))
    payload["state"]["noise_rng"] = torch.zeros(3, dtype=torch.uint8)  # weights load, this not
    ckpt.save_checkpoint(payload, resume_path(cfg))
    events: list[dict] = []
    pretrain_generator(cfg, progress=events.append, data=data)
    assert events[0]["event"] == "warm_start_restarted"
    fresh = tiny_config(tmp_path, warm_start_path=str(tmp_path / "fresh.pt"), warm_iters=3)
    pretrain_generator(fresh, data=data)
    ours, theirs = _weights(Path(cfg.warm_start_path)), _weights(Path(fresh.warm_start_path))
    assert all(torch.equal(ours[k], theirs[k]) for k in ours)


def test_the_coarse_terms_see_coarse_error_not_fine_and_only_in_the_first_iterations(
    tmp_path: Path, monkeypatch
) -> None:
    from denoiser import warmstart

    target = torch.zeros(1, 1, 16, 16)
    checkerboard = (torch.arange(16)[:, None] + torch.arange(16)[None, :]) % 2 * 2.0 - 1.0
    fine = warmstart.coarse_loss(target + checkerboard, target, [1.0, 4.0, 16.0])
    coarse = warmstart.coarse_loss(target + 1.0, target, [1.0, 4.0, 16.0])
    assert fine.item() == pytest.approx(0.0, abs=1e-12) and coarse.item() == pytest.approx(21.0)
    calls = []
    real = warmstart.coarse_loss
    monkeypatch.setattr(warmstart, "coarse_loss", lambda *a: calls.append(1) or real(*a))
    optimisers = []
    real_adam = warmstart._adam
    monkeypatch.setattr(warmstart, "_adam", lambda *a: optimisers.append(1) or real_adam(*a))
    cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / "w.pt"), warm_iters=5)
    cfg.warm_coarse_weights, cfg.warm_coarse_iters = [1.0, 1.0, 1.0], 3
    cfg.texture_blend_share = 0.5
    pretrain_generator(cfg, data=tiny_data())
    assert len(calls) == 3
    assert len(optimisers) == 2  # a fresh Adam for the pixel-loss phase
    # The warm start is measured as the network it is: the blend is the finished model's.
    assert Denoiser.load(tmp_path / "w.pt", device="cpu").texture_share == 0.0


@pytest.mark.parametrize("stopped_after", [2, 3, 4])  # before, at and after the switch
def test_a_warm_start_stopped_around_the_coarse_phase_end_resumes_bit_for_bit(
    tmp_path: Path, stopped_after: int
) -> None:
    data = tiny_data()

    def config(name: str):
        cfg = tiny_config(tmp_path, warm_start_path=str(tmp_path / name), warm_iters=6)
        cfg.warm_coarse_weights, cfg.warm_coarse_iters = [1.0, 4.0, 16.0], 3
        return cfg

    pretrain_generator(config("whole.pt"), data=data)
    cut = config("cut.pt")
    polls = iter(range(100))
    assert (
        pretrain_generator(cut, data=data, should_stop=lambda: next(polls) >= stopped_after) is None
    )
    pretrain_generator(cut, data=data)
    whole_w, cut_w = _weights(tmp_path / "whole.pt"), _weights(tmp_path / "cut.pt")
    assert all(torch.equal(whole_w[k], cut_w[k]) for k in whole_w)


def test_the_window_loss_weighs_a_brain_error_as_a_reader_sees_it() -> None:
    """The same 4 HU error counts far more in grey matter (inside the [0, 80] HU window)
    than on cortical bone (outside every window but the whole range), and an error outside
    a window is not one inside it."""
    from denoiser.config import TrainConfig
    from denoiser.data import hu_to_unit
    from denoiser.warmstart import window_loss

    cfg = TrainConfig.from_dict({"warm_windows_hu": [[-160.0, 240.0], [0.0, 80.0]]})
    plain = TrainConfig()

    def loss_of(hu: float, config: TrainConfig) -> float:
        truth = torch.full((1, 1, 8, 8), hu)
        out = truth.clone()
        out[..., :4, :] += 4.0
        unit = lambda x: hu_to_unit(x, config.hu_min, config.hu_max)  # noqa: E731
        return float(window_loss(unit(out), unit(truth), config))

    brain, bone = loss_of(40.0, cfg), loss_of(1200.0, cfg)
    # In log units: grey matter's error counts in all three ranges, bone's only in the
    # whole range, so the mean log error is higher by well over 2 (e^2 = 7.4 times).
    assert brain > bone + 2.0
    # Beside the log, the coarse terms (squared errors) would hardly count: refused.
    with pytest.raises(ValueError, match="warm_windows_hu needs warm_coarse_iters = 0"):
        TrainConfig.from_dict({"warm_windows_hu": [[0.0, 80.0]], "warm_coarse_iters": 10})
    # Without windows, the loss is the log of the plain MSE: the same wherever the error is.
    assert loss_of(40.0, plain) == pytest.approx(loss_of(1200.0, plain), abs=1e-4)


def test_the_warm_start_decays_its_learning_rate_on_a_cosine() -> None:
    from denoiser.warmstart import cosine_lr

    assert cosine_lr(2e-4, 1e-5, 1, 101) == pytest.approx(2e-4)
    assert cosine_lr(2e-4, 1e-5, 51, 101) == pytest.approx((2e-4 + 1e-5) / 2)
    assert cosine_lr(2e-4, 1e-5, 101, 101) == pytest.approx(1e-5)
    steps = [cosine_lr(2e-4, 1e-5, i, 101) for i in range(1, 102)]
    assert all(a >= b for a, b in zip(steps, steps[1:], strict=False))
