"""Denoiser.denoise: shapes, dtype, input rules, determinism, tiling, progress, shipped weights."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
import torch

from denoiser import Denoiser
from denoiser.inference import DEFAULT_CHECKPOINT
from denoiser.networks import build_generator
from tests.denoiser.tiny import TINY_G


@pytest.fixture(scope="module")
def model() -> Denoiser:
    torch.manual_seed(5)
    net = build_generator(TINY_G)
    torch.nn.init.normal_(net.head.weight, std=0.05)
    return Denoiser(net, device="cpu", batch_size=2)


def volume(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(40, 40, shape).astype(np.float32)


@pytest.mark.parametrize("shape", [(37, 53), (3, 37, 53), (1, 64, 64), (5, 16, 24)])
def test_same_shape_and_float32(model: Denoiser, shape: tuple[int, ...]) -> None:
    out = model.denoise(volume(shape))
    assert out.shape == shape and out.dtype == np.float32


def test_integer_input_and_values_outside_the_window(model: Denoiser) -> None:
    vol = volume((2, 32, 32)).astype(np.int16)
    vol[:, :4] = -2048  # padding outside the scan circle
    vol[:, -2:, -2:] = 3500  # metal above the network's window
    out = model.denoise(vol)
    assert out.dtype == np.float32
    assert (out[:, :4] == -2048).all() and (out[:, -2:, -2:] == 3500).all()
    assert out.min() >= vol.min() and out.max() <= vol.max()


def test_deterministic(model: Denoiser) -> None:
    vol = volume((3, 40, 40))
    assert np.array_equal(model.denoise(vol), model.denoise(vol))
    # Batching must not change the answer (no cross-slice statistics).
    assert np.allclose(
        model.denoise(vol, batch_size=1), model.denoise(vol, batch_size=3), atol=0.01
    )


@pytest.mark.parametrize("ensemble", [1, 4, 8])
def test_tiling_matches_untiled(
    model: Denoiser, monkeypatch: pytest.MonkeyPatch, ensemble: int
) -> None:
    import denoiser.inference as inf

    vol = volume((1, 150, 170), seed=2)
    monkeypatch.setattr(model, "ensemble", ensemble)
    whole = model.denoise(vol)
    monkeypatch.setattr(inf, "TILE", 128)
    monkeypatch.setattr(inf, "TILE_MARGIN", 32)
    model.max_tile_pixels = 64 * 64
    try:
        tiled = model.denoise(vol)
    finally:
        model.max_tile_pixels = inf.MAX_TILE_PIXELS
    diff = np.abs(tiled - whole)
    assert diff.mean() < 0.05 and diff.max() < 1.0, (diff.mean(), diff.max())  # HU


def test_progress_reports_every_batch(model: Denoiser) -> None:
    seen: list[tuple[int, int]] = []
    model.denoise(volume((5, 16, 16)), progress=lambda done, total: seen.append((done, total)))
    assert seen == [(2, 5), (4, 5), (5, 5)]


def test_strided_views_and_batches_agree(model: Denoiser) -> None:
    # A flipped view has negative strides, which torch cannot wrap without a copy.
    vol = volume((3, 24, 20), seed=3)
    flipped = model.denoise(vol[:, ::-1, ::2], batch_size=2)
    assert np.array_equal(flipped, model.denoise(vol[:, ::-1, ::2].copy(), batch_size=2))
    # Another batch size may get other oneDNN kernels (another summation order on some
    # CPUs): the same result to float rounding, not bit for bit.
    other = model.denoise(vol[:, ::-1, ::2].copy(), batch_size=3)
    np.testing.assert_allclose(other, flipped, rtol=0, atol=1e-3)


def test_reversed_and_read_only_volumes(model: Denoiser) -> None:
    # A stack sorted the other way round: its one-slice last batch is a view with a negative
    # stride that NumPy calls contiguous and torch cannot wrap.
    vol = volume((3, 16, 16), seed=5)
    expected = model.denoise(vol[::-1].copy(), batch_size=2)
    assert np.array_equal(model.denoise(vol[::-1], batch_size=2), expected)
    frozen = vol[::-1].copy()
    frozen.flags.writeable = False  # e.g. a memory-mapped file
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert np.array_equal(model.denoise(frozen, batch_size=2), expected)


def test_output_never_leaves_the_volume_range(model: Denoiser) -> None:
    # The range is the whole volume's, not each batch's: a dark slice may not be clipped
    # at its own maximum when another slice of the series is brighter.
    vol = volume((4, 16, 16), seed=4)
    vol[1] = 500.0
    out = model.denoise(vol, batch_size=1)
    assert out.min() >= vol.min() and out.max() <= vol.max()
    assert out[0].max() > vol[0].max() or out[0].min() < vol[0].min()


def test_bad_input_is_rejected(model: Denoiser) -> None:
    with pytest.raises(ValueError, match="expected"):
        model.denoise(np.zeros((2, 2, 2, 2), np.float32))
    bad = volume((8, 8))
    bad[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        model.denoise(bad)
    bad[0, 0] = -np.inf
    with pytest.raises(ValueError, match="infinite"):
        model.denoise(bad)
    with pytest.raises(TypeError, match="complex64"):
        model.denoise(volume((8, 8)).astype(np.complex64))


def test_shipped_default_loads_and_denoises() -> None:
    # The default weights are committed: a missing file is a failure, never a skip.
    assert DEFAULT_CHECKPOINT.exists(), f"shipped weights missing: {DEFAULT_CHECKPOINT}"
    assert DEFAULT_CHECKPOINT.stat().st_size < 20e6
    d = Denoiser.load()
    assert d.name and d.version and "research use only" in str(d.model_card).lower()
    vol = volume((2, 64, 64))
    for ensemble in (1, 2, 8):  # the real network's output tensors, averaged
        d.ensemble = ensemble
        out = d.denoise(vol)
        assert out.shape == vol.shape and np.isfinite(out).all()


def test_texture_blend_puts_back_removed_noise_in_its_band_only(model: Denoiser) -> None:
    vol = volume((2, 48, 64), seed=7)
    plain = model.denoise(vol)
    band = [0.106, 0.21]
    blended = Denoiser(
        model.net, device="cpu", config={"texture_blend_share": 0.4, "texture_blend_band": band}
    ).denoise(vol)
    spectrum = np.fft.rfft2(blended - plain)
    fy, fx = np.fft.fftfreq(48)[:, None], np.fft.rfftfreq(64)[None, :]
    inside = (np.hypot(fy, fx) >= band[0]) & (np.hypot(fy, fx) <= band[1])
    removed = np.fft.rfft2(vol - plain)[:, inside]
    # In the band: 40 % of what the network took off (its projection on the removed part);
    # outside: nothing changed.
    share = np.vdot(removed, spectrum[:, inside]).real / np.vdot(removed, removed).real
    assert share == pytest.approx(0.4, abs=0.005)
    # (up to float rounding and the few pixels the volume's range clips: 0.01 HU on average)
    assert np.abs(spectrum[:, ~inside]).max() < 0.01 * 48 * 64
    whole = {"texture_blend_share": 1.0, "texture_blend_band": [0.0, 0.71]}
    back = Denoiser(model.net, device="cpu", config=whole).denoise(vol)
    np.testing.assert_allclose(back, vol, atol=1e-2)  # all of it put back: the input
    # Pixels outside the HU window: what the network did there is not spread into the image.
    padded = vol.copy()
    padded[:, :, :8] = -3024.0
    blend = {"texture_blend_share": 1.0, "texture_blend_band": [0.0, 0.71]}
    out = Denoiser(model.net, device="cpu", config=blend).denoise(padded)
    np.testing.assert_allclose(out, padded, atol=1e-2)


def test_noise_peak_finds_each_kernels_grain() -> None:
    """The relative blend band follows the noise: a smooth kernel's grain peaks low, a sharp
    kernel's high, at the frequencies the FBP noise model puts them."""
    import torch

    from denoiser.inference import noise_peak
    from denoiser.warmstart import fbp_like_noise

    gen = torch.Generator().manual_seed(3)
    ones = torch.ones(2)
    n = 128
    fy, fx = torch.fft.fftfreq(n)[:, None], torch.fft.rfftfreq(n)[None, :]
    radius = torch.sqrt(fy**2 + fx**2)
    smooth = fbp_like_noise((2, 1, n, n), ones, ones, gen, kernel_names=["hann", "hann"])
    sharp = fbp_like_noise((2, 1, n, n), ones, ones, gen, kernel_names=["ramp", "ramp"])
    low = noise_peak(torch.fft.rfft2(smooth), radius)
    high = noise_peak(torch.fft.rfft2(sharp), radius)
    assert ((low > 0.1) & (low < 0.2)).all()  # |f| Hann^2 peaks near 0.15 cycles/pixel
    assert (high > 0.4).all()  # the ramp's power rises to the corner


def test_the_relative_band_puts_noise_back_in_one_band_around_a_peak(model: Denoiser) -> None:
    """What the relative blend adds lies in one annulus [0.7 p, 1.4 p] of the spectrum, p
    the removed noise's peak: at most twice as far out as it starts (tiny float residue
    aside), and with the removed noise's strongest frequencies in it."""
    vol = volume((2, 48, 64), seed=7)
    plain = model.denoise(vol)
    config = {"texture_blend_share": 0.5, "texture_blend_relative": [0.7, 1.4]}
    blended = Denoiser(model.net, device="cpu", config=config).denoise(vol)
    fy, fx = np.fft.fftfreq(48)[:, None], np.fft.rfftfreq(64)[None, :]
    radius = np.hypot(fy, fx)
    added = np.abs(np.fft.rfft2(blended - plain))
    for i in range(len(vol)):
        used = radius[added[i] > 0.01 * added[i].max()]
        assert len(used) > 10 and used.max() <= 2.0 * used.min() + 1.5 / 64


def test_the_relative_band_follows_the_kernels_grain() -> None:
    """With a smoothing 'network', the grain put back for sharp-kernel noise lies far higher
    in frequency than for smooth-kernel noise, beyond the fixed band (0.106-0.21)."""
    import torch

    from denoiser.warmstart import fbp_like_noise

    blur = torch.nn.AvgPool2d(5, stride=1, padding=2, count_include_pad=False)
    config = {"texture_blend_share": 0.5, "texture_blend_relative": [0.7, 1.4]}
    model = Denoiser(blur, device="cpu", config=config)
    plain = Denoiser(blur, device="cpu")
    n = 128
    radius = np.hypot(np.fft.fftfreq(n)[:, None], np.fft.rfftfreq(n)[None, :])

    def grain_frequency(kernel: str) -> float:
        gen = torch.Generator().manual_seed(5)
        noise = fbp_like_noise(
            (1, 1, n, n), torch.tensor([30.0]), torch.ones(1), gen, None, [kernel]
        )
        image = (40.0 + noise[0, 0]).numpy()
        power = np.abs(np.fft.rfft2(model.denoise(image) - plain.denoise(image))) ** 2
        return float((radius * power).sum() / power.sum())

    smooth, sharp = grain_frequency("hann"), grain_frequency("ramp")
    assert smooth < 0.25 and sharp > 0.3 and sharp > 1.5 * smooth


def _turns() -> dict[str, tuple]:
    """Orientations of a 2-D image, each with its inverse."""
    return {
        "mirror": (lambda a: a[:, ::-1], lambda a: a[:, ::-1]),
        "upside down": (lambda a: a[::-1], lambda a: a[::-1]),
        "half turn": (lambda a: a[::-1, ::-1], lambda a: a[::-1, ::-1]),
        "transpose": (lambda a: a.T, lambda a: a.T),
        "quarter turn": (np.rot90, lambda a: np.rot90(a, -1)),
    }


@pytest.mark.parametrize(
    "ensemble, follows",
    [
        (2, ["mirror"]),
        (4, ["mirror", "upside down", "half turn"]),
        (8, ["mirror", "upside down", "half turn", "transpose", "quarter turn"]),
    ],
)
def test_self_ensemble_output_turns_with_the_slice(model, ensemble, follows) -> None:
    """The mean over a group of orientations, each undone, turns with its input: the
    plain network does not (a wrong undo, or an average of un-undone outputs, would not)."""
    image = volume((37, 53), seed=4)
    plain = Denoiser(model.net, device="cpu")
    averaged = Denoiser(model.net, device="cpu", config={"self_ensemble": ensemble})
    out = averaged.denoise(image)
    assert np.abs(out - plain.denoise(image)).max() > 0.1  # the ensemble is applied
    for name, (turn, back) in _turns().items():
        turned = np.ascontiguousarray(turn(image))
        plain_gap = np.abs(back(plain.denoise(turned)) - plain.denoise(image)).max()
        gap = np.abs(back(averaged.denoise(turned)) - out).max()
        assert plain_gap > 0.1, name  # the tiny network itself is not symmetric
        if name in follows:
            assert gap < 1e-3, (name, gap)
        else:
            assert gap > 0.01, (name, gap)


def test_self_ensemble_of_two_is_the_mean_of_the_slice_and_its_mirror(model) -> None:
    image = volume((24, 40), seed=6)
    plain = Denoiser(model.net, device="cpu")
    pair = Denoiser(model.net, device="cpu", config={"self_ensemble": 2})
    x = torch.from_numpy(image)[None, None] / 1000.0
    expected = (plain._ensemble(x) + plain._ensemble(x.flip(-1)).flip(-1)) / 2
    assert torch.allclose(pair._ensemble(x), expected, atol=1e-6)


def test_a_self_ensemble_size_not_offered_is_refused(model, tmp_path) -> None:
    from denoiser import checkpoint as ckpt
    from denoiser.config import TrainConfig

    for bad in (3, 0, 16, True, "2"):
        with pytest.raises(ValueError, match="self_ensemble must be one of 1, 2, 4, 8"):
            Denoiser(model.net, device="cpu", config={"self_ensemble": bad})
    with pytest.raises(ValueError, match="self_ensemble"):
        TrainConfig(self_ensemble=3)
    payload = ckpt.make_payload(
        "generator", TINY_G.to_dict(), model.net.state_dict(), config={"self_ensemble": 6}
    )
    path = ckpt.save_checkpoint(payload, tmp_path / "bad-ensemble.pt")
    with pytest.raises(ckpt.CheckpointError, match="bad self-ensemble setting"):
        Denoiser.load(path, device="cpu")
    # The caller may replace the file's choice (checked as the caller's own value).
    assert Denoiser.load(path, device="cpu", self_ensemble=8).ensemble == 8
    with pytest.raises(ValueError, match="self_ensemble must be one of"):
        Denoiser.load(path, device="cpu", self_ensemble=5)


def test_a_texture_blend_out_of_range_is_refused(model: Denoiser) -> None:
    for bad in (
        {"texture_blend_share": 1.5},
        {"texture_blend_band": [0.3, 0.1]},
        {"texture_blend_relative": [1.4, 0.7]},
    ):
        with pytest.raises(ValueError, match="texture_blend"):
            Denoiser(model.net, device="cpu", config={"texture_blend_share": 0.5, **bad})


def test_a_checkpoint_with_a_bad_texture_blend_is_a_checkpoint_error(model, tmp_path) -> None:
    from denoiser import checkpoint as ckpt

    config = {"texture_blend_share": 1.5}
    # The model's weights are channels_last (Denoiser made them so): saved all the same.
    weights = model.net.state_dict()
    payload = ckpt.make_payload("generator", TINY_G.to_dict(), weights, config=config)
    path = ckpt.save_checkpoint(payload, tmp_path / "bad-blend.pt")
    with pytest.raises(ckpt.CheckpointError, match="bad texture blend setting"):
        Denoiser.load(path, device="cpu")
    assert Denoiser.load(path, device="cpu", texture_blend=False).texture_share == 0.0
