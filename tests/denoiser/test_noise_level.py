"""The noise level read in the air around the body, and the generator conditioned on it."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from denoiser import checkpoint as ckpt
from denoiser import noise_level
from denoiser.anatomy_data import anatomy_training_data
from denoiser.data import PairPatchSampler
from denoiser.inference import Denoiser
from denoiser.networks import GeneratorSpec, build_generator
from denoiser.warmstart import pretrain_generator, warm_batch
from tests.denoiser.test_general import anatomy_config
from tests.denoiser.tiny import TINY_G


def body_in_air(noise_sd: float, size: int = 256, radius: float = 0.35, seed: int = 0):
    """A 40 HU disk in -1000 HU air, white noise of ``noise_sd`` everywhere."""
    yy, xx = np.mgrid[:size, :size] / size - 0.5
    img = np.where(np.hypot(yy, xx) < radius, 40.0, -1000.0)
    return (img + np.random.default_rng(seed).normal(0, noise_sd, img.shape)).astype(np.float32)


def test_air_noise_reads_the_noise_and_grows_with_it() -> None:
    # 8 HU: three SDs above the floor, nothing clipped: the reading is the SD itself.
    assert noise_level.air_noise_sd(body_in_air(8.0)) == pytest.approx(8.0, rel=0.05)
    reads = [noise_level.air_noise_sd(body_in_air(sd)) for sd in (2, 8, 30, 80)]
    assert reads == sorted(reads) and reads[0] < 2.5
    # Strong noise is clipped at -1024 HU in air: the reading is below the SD, still rising.
    assert reads[-1] < 80


def test_air_noise_ignores_padding_and_needs_air() -> None:
    img = body_in_air(8.0)
    yy, xx = np.mgrid[:256, :256] / 256 - 0.5
    padded = np.where(np.hypot(yy, xx) > 0.48, -3024.0, img)  # outside the scan circle
    assert noise_level.air_noise_sd(padded) == pytest.approx(8.0, rel=0.05)
    assert noise_level.air_noise_sd(body_in_air(8.0, radius=0.8)) is None  # body fills it
    assert noise_level.condition(None) == [0.0, 0.0]
    assert noise_level.condition(16.0) == [1.0, 0.0]
    assert noise_level.condition(64.0) == [1.0, 2.0]


def conditioned(spec: GeneratorSpec = TINY_G) -> torch.nn.Module:
    return build_generator(GeneratorSpec(**{**spec.to_dict(), "cond_dim": 2}))


def test_a_condition_added_to_a_trained_network_starts_as_that_network(tmp_path) -> None:
    torch.manual_seed(0)
    plain = build_generator(TINY_G)
    for p in plain.parameters():  # a "trained" network: nothing at zero
        p.data.normal_(0, 0.1)
    net = conditioned()
    ckpt.load_into(tmp_path / "plain.pt", net, plain.state_dict(), new=("film.",))
    x = torch.randn(3, 1, 32, 32) * 0.05
    cond = torch.tensor([[1.0, -1.0], [1.0, 2.0], [0.0, 0.0]])
    assert torch.allclose(net(x, cond), plain(x), atol=1e-6)
    with pytest.raises(ckpt.CheckpointError, match="missing keys"):  # only film may be new
        ckpt.load_into(tmp_path / "plain.pt", net, {}, new=("film.",))
    with pytest.raises(ValueError, match="condition shaped"):
        net(x, cond[:2])
    with pytest.raises(ValueError, match="only the U-Net"):
        build_generator(GeneratorSpec(kind="resnet", cond_dim=2))


def trained_film(seed: int = 0) -> torch.nn.Module:
    torch.manual_seed(seed)
    net = conditioned()
    for p in net.parameters():
        p.data.normal_(0, 0.2)
    return net.eval()


def test_denoiser_feeds_each_slice_its_own_measured_level() -> None:
    net = trained_film()
    quiet, noisy = body_in_air(5.0, 128, seed=1), body_in_air(40.0, 128, seed=2)
    stack = np.stack([quiet, noisy])
    d = Denoiser(net, channels_last=False, device="cpu")
    out = d.denoise(stack)
    cond = torch.tensor([noise_level.condition(noise_level.air_noise_sd(s)) for s in stack])
    with torch.no_grad():
        x = torch.from_numpy(stack)[:, None]
        expect = net((x.clamp(-1024, 3072) + 1024) / 2048 - 1, cond)
    expect_hu = ((expect + 1) * 2048 - 1024)[:, 0].numpy()
    # Denoiser's own rules: input below the HU window passes, output within the input's range.
    expect_hu = np.where(stack < -1024, stack, expect_hu).clip(stack.min(), stack.max())
    assert np.abs(out - expect_hu).max() < 0.05
    # The condition matters: the quiet slice denoised as if it were the noisy one differs.
    swapped = net((x[:1].clamp(-1024, 3072) + 1024) / 2048 - 1, cond[1:]).detach()
    assert (swapped - expect[:1].detach()).abs().max() > 1e-3
    # Tiles carry their slice's condition: tiled equals whole.
    tiled = Denoiser(net, channels_last=False, device="cpu", max_tile_pixels=64 * 64).denoise(stack)
    assert np.abs(tiled - out).max() < 0.5


def test_conditioned_warm_start_from_an_unconditioned_checkpoint(tmp_path) -> None:
    settings = {"warm_target": "truth", "warm_iters": 2, "sim_size": 160, "anatomies": ["pelvis"]}
    plain = anatomy_config(tmp_path, warm_start_path=str(tmp_path / "plain.pt"), **settings)
    plain_path = pretrain_generator(plain)
    cfg = anatomy_config(tmp_path, **settings)
    cfg.generator = GeneratorSpec(**{**TINY_G.to_dict(), "cond_dim": 2})
    cfg.warm_init_path = str(plain_path)
    cfg.warm_start_path = str(tmp_path / "cond.pt")
    cfg.warm_synthetic_share = 0.5
    cfg.batch_size = 8
    data = anatomy_training_data(cfg)
    sampler = PairPatchSampler(data.pairs, cfg, np.random.default_rng(0), [0.5, 1.5])
    _noisy, _clean, cond = warm_batch(cfg, sampler, torch.Generator().manual_seed(0))
    assert cond.shape == (8, 2)
    assert (cond[:4] == 0).all()  # synthetic noise on a patch: nothing measured, unknown
    assert (cond[4:, 0] == 1).any()  # the scans' own noise: measured on the whole slice
    path = pretrain_generator(cfg)
    model = Denoiser.load(path)
    assert model.net.spec.cond_dim == 2
    film = [p for n, p in model.net.named_parameters() if n.startswith("film.mlp.2")]
    assert any(p.abs().max() > 0 for p in film)  # the zero-initialised layer learned
