"""The generalist denoiser: kernels, textured anatomies, the truth-target warm start, the
self-supervised term, the input guard and the general evaluation grid."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from skimage.transform import iradon

from denoiser import ctsim, guard, kernels
from denoiser.anatomy import ANATOMIES, phantom
from denoiser.anatomy_data import anatomy_training_data
from denoiser.cli import main
from denoiser.config import TrainConfig
from denoiser.data import PairPatchSampler
from denoiser.networks import GeneratorSpec, build_generator
from denoiser.selfsupervised import NoiseModel, r2r_loss
from denoiser.warmstart import pretrain_generator
from tests.denoiser.tiny import tiny_config


def test_custom_filter_path_matches_scikit_image_ramp(small_phantom) -> None:
    p = ctsim.project(small_phantom.hu, small_phantom.pixel_spacing_mm, 128)
    ours = iradon(
        kernels.filter_sinogram(p, "ramp"), ctsim.view_angles(128), filter_name=None, circle=True
    )
    theirs = iradon(p, ctsim.view_angles(128), filter_name="ramp", circle=True)
    inside = small_phantom.body
    assert np.abs(ours - theirs)[inside].max() < 1e-6 * np.abs(theirs).max()


def test_sharper_kernels_give_more_noise(small_phantom) -> None:
    sds = []
    for name in ("hann", "shepp-logan", "ramp", "edge"):
        image = ctsim.simulate_dose(
            small_phantom.hu, 0.25, rng=1, pixel_spacing_mm=2.8, filter_name=name
        )
        truth = ctsim.reconstruct(ctsim.project(small_phantom.hu, 2.8, 128), 2.8, name)
        sds.append(float((image - truth)[small_phantom.liver_roi].std()))
    assert sds == sorted(sds) and sds[-1] > 1.5 * sds[0]
    with pytest.raises(ValueError, match="unknown reconstruction kernel"):
        ctsim.reconstruct(np.zeros((8, 8)), 1.0, "b70f")


@pytest.mark.parametrize("anatomy", ANATOMIES)
def test_each_anatomy_is_textured_with_lesions_and_an_roi(anatomy) -> None:
    a = phantom(anatomy, 192, seed=3, spacing_mm=0.9)
    b = phantom(anatomy, 192, seed=3, spacing_mm=0.9)
    assert np.array_equal(a.hu, b.hu)  # the seed decides everything
    assert a.pixel_spacing_mm == 0.9 and a.liver_roi.sum() > 4
    assert a.lesions and all(les.mask.any() for les in a.lesions)
    # Texture: the homogeneous ROI is not flat (a flat phantom flatters smoothing filters).
    assert a.hu[a.liver_roi].std() > 1.0
    yy, xx = np.ogrid[:192, :192]
    assert (a.hu[(yy - 96) ** 2 + (xx - 96) ** 2 > 96**2] == -1000).all()


def anatomy_config(tmp_path, **overrides) -> TrainConfig:
    settings = {
        "data_source": "anatomy",
        "cache_dir": str(tmp_path / "cache"),
        "sim_size": 64,
        "sim_slices_per_domain": 2,
        "val_slices": 1,
        "dose_min": 0.05,
        "dose_max": 0.5,
        "patch_size": 32,
    }
    return tiny_config(tmp_path, **{**settings, **overrides})


def test_truth_pairs_and_their_sampler(tmp_path) -> None:
    cfg = anatomy_config(tmp_path)
    data = anatomy_training_data(cfg)
    assert len(data.pairs) == 2 and len(data.nd) == 2 and data.val.truth is not None
    sampler = PairPatchSampler(data.pairs, cfg, np.random.default_rng(0), [1.0, 1.0])
    noisy, clean = sampler.sample(4)
    assert noisy.shape == clean.shape == (4, 1, 32, 32)
    assert (noisy - clean).abs().max() > 0  # the scan's own noise, at full scale
    zero = PairPatchSampler(data.pairs, cfg, np.random.default_rng(0), [0.0, 0.0])
    same_noisy, same_clean = zero.sample(4)
    assert torch.equal(same_noisy, same_clean)


def test_truth_task_inputs_are_clipped_like_the_denoisers_input(tmp_path) -> None:
    """Air plus noise goes below -1024 HU in the scan, but Denoiser clips its input to the
    HU range: the network must learn on the inputs it will see."""
    from denoiser.warmstart import warm_batch

    cfg = anatomy_config(
        tmp_path,
        warm_target="truth",
        warm_synthetic_share=0.5,
        foreground_fraction=0.0,
        batch_size=16,
    )
    data = anatomy_training_data(cfg)
    sampler = PairPatchSampler(data.pairs, cfg, np.random.default_rng(0), [1.5, 1.5])
    noisy, clean, cond = warm_batch(cfg, sampler, torch.Generator().manual_seed(0))
    assert cond is None  # an unconditioned generator takes none
    assert noisy.min() >= -1.0 and noisy.max() <= 1.0
    # -1.0 is -1024 HU, the air padding around the phantom: the clip had something to do
    assert (clean == -1.0).any()
    assert (noisy[clean == -1.0] > -1.0).any()  # and the noise above it is still there


def test_truth_warm_start_trains_and_records_its_input_range(tmp_path) -> None:
    cfg = anatomy_config(
        tmp_path,
        warm_target="truth",
        warm_iters=3,
        warm_start_path=str(tmp_path / "w.pt"),
        sim_size=160,
        anatomies=["pelvis"],
    )
    path = pretrain_generator(cfg)
    from denoiser import Denoiser

    model = Denoiser.load(path)
    card_range = model.model_card["input_range"]
    assert card_range and card_range["noise_sd_hu"][0] <= card_range["noise_sd_hu"][1]


def test_truth_target_needs_a_known_truth() -> None:
    with pytest.raises(ValueError, match="needs data_source = 'anatomy'"):
        TrainConfig(warm_target="truth")
    with pytest.raises(ValueError, match="kernels must be"):
        TrainConfig(kernels=["b70f"])


def correlated_noisy_set(n: int = 6, size: int = 48, sd: float = 40.0) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for _ in range(n):
        white = rng.standard_normal((size, size))
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(size), np.fft.fftfreq(size), indexing="ij"))
        shaped = np.real(np.fft.ifft2(np.fft.fft2(white) * np.sqrt(f) * np.cos(np.pi * f)))
        out.append((40.0 + sd * shaped / shaped.std()).astype(np.float32))
    return out


def test_noise_model_measures_the_noise_and_r2r_loss_falls() -> None:
    slices = correlated_noisy_set()
    model = NoiseModel.estimate(slices, 24)
    unit = 2.0 / 4096
    patches = torch.from_numpy(np.stack([s[:24, :24] for s in slices])[:, None] * unit) - 0.5
    estimated = model.patch_sd(patches) / unit
    assert torch.all((estimated > 25) & (estimated < 60))  # 40 HU, blind, per patch
    clean = torch.full_like(patches, 40 * unit - 0.5)
    torch.manual_seed(0)
    net = build_generator(GeneratorSpec(base_width=16, depth=2, max_width=16, stem=1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    gen = torch.Generator().manual_seed(1)
    losses = []
    for _ in range(150):
        loss = r2r_loss(net, patches, model, 0.5, gen)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    # The noisy target keeps most of the loss (its own noise), so the fall is modest; what
    # the network learned shows against the clean image it never saw: 40 HU of error before.
    assert np.mean(losses[-10:]) < 0.95 * np.mean(losses[:10])
    with torch.no_grad():
        error_hu = (net(patches) - clean).pow(2).mean().sqrt().item() / unit
    assert error_hu < 32


def test_guard_fires_far_outside_and_is_quiet_inside() -> None:
    trained = guard.training_range(correlated_noisy_set(sd=30.0) + correlated_noisy_set(sd=50.0))
    inside = guard.measure(np.stack(correlated_noisy_set(n=2, sd=40.0)))
    assert guard.check(inside, trained) == []
    loud = guard.check(guard.measure(np.stack(correlated_noisy_set(n=2, sd=400.0))), trained)
    assert any("above the trained range" in w for w in loud)
    white = np.random.default_rng(1).normal(40, 40, (2, 48, 48))
    assert any("sharper" in w for w in guard.check(guard.measure(white), trained))
    air = np.full((48, 48), -1000.0)
    assert "no flat soft tissue" in guard.check(guard.measure(air), trained)[0]
    assert guard.check(guard.measure(white), None) == []  # a model without a range: no claim


@pytest.mark.slow
def test_general_grid_runs_end_to_end(tmp_path, capsys) -> None:
    out = tmp_path / "general"
    code = main(
        [
            "evaluate",
            "--suite",
            "general",
            "--kernels",
            "ramp",
            "--doses",
            "0.25",
            "--anatomies",
            "head",
            "--spacings",
            "1.0",
            "--slices-per-cell",
            "1",
            "--size",
            "96",
            "--no-real",
            "--out",
            str(out),
            "--quiet",
        ]
    )
    assert code == 0
    report = (out / "general.md").read_text()
    assert "head ramp 0.25x 1mm" in report and "beats the best classical" in report
    assert (out / "general.png").stat().st_size > 1000
    rows = (out / "general.csv").read_text().splitlines()
    assert rows[0].startswith("cell,kernel") and any(",bm3d," in r for r in rows)


def test_cropped_grid_runs_models_on_the_whole_slice(tmp_path) -> None:
    """Classical filters run on the crop (their cost); a learned model gets the slice as a
    user would give it, with the air it reads its noise level from, and is measured on
    the same crop."""
    from denoiser.evaluation.general import Cell, Grid, evaluate_cell

    seen = []

    def model(ld: np.ndarray) -> np.ndarray:
        seen.append(ld.shape)
        return ld

    grid = Grid(slices=1, size=96, crop=48)
    result = evaluate_cell(Cell("ramp", 0.25, "head", 1.0), grid, {"m": model})
    assert seen == [(96, 96)]
    # The identity "model" measured on the crop is the cropped input, exactly.
    assert result.rows["m"][0]["psnr"] == result.rows["LD (input)"][0]["psnr"]
    assert result.crops["m"].shape == result.crops["LD (input)"].shape


def test_synthetic_noise_takes_each_kernels_spectrum() -> None:
    from denoiser.warmstart import fbp_like_noise

    gen = torch.Generator().manual_seed(0)
    ones = torch.ones(32)
    high = {}
    for name in ("hann", "ramp", "edge"):
        noise = fbp_like_noise((32, 1, 64, 64), ones, ones, gen, None, [name] * 32)
        power = torch.fft.fft2(noise[:, 0]).abs().pow(2).mean(0).numpy()
        f = np.hypot(*np.meshgrid(np.fft.fftfreq(64), np.fft.fftfreq(64), indexing="ij"))
        high[name] = power[f > 0.3].sum() / power.sum()
    assert high["hann"] < 0.2 < min(high["ramp"], high["edge"])
    cfg = TrainConfig(warm_kernels=["hann", "edge"])
    from denoiser.warmstart import synthetic_noise

    assert synthetic_noise((4, 1, 32, 32), cfg, gen).shape == (4, 1, 32, 32)


def test_warm_start_from_an_earlier_one_with_synthetic_share(tmp_path) -> None:
    first = anatomy_config(
        tmp_path, warm_target="truth", warm_iters=2, warm_start_path=str(tmp_path / "a.pt")
    )
    pretrain_generator(first)
    again = anatomy_config(
        tmp_path,
        warm_target="truth",
        warm_iters=1,
        warm_start_path=str(tmp_path / "b.pt"),
        warm_init_path=str(tmp_path / "a.pt"),
        warm_synthetic_share=0.5,
        warm_kernels=["ramp", "edge"],
        lr=0.0,  # no step: the result is the weights it started from
    )
    pretrain_generator(again)
    from denoiser import checkpoint as ckpt

    a = ckpt.load_checkpoint_file(tmp_path / "a.pt")["state_dict"]
    b = ckpt.load_checkpoint_file(tmp_path / "b.pt")["state_dict"]
    assert all(torch.equal(a[k], b[k]) for k in a)
