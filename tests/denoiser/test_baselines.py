import numpy as np
import pytest

from denoiser import ctsim
from denoiser import metrics as M
from denoiser.baselines import BASELINES, noise_sigma_hu


@pytest.fixture(scope="module")
def low_dose(small_phantom):
    ph = small_phantom
    # Low flux so the coarse 128x128 grid carries clinical-looking noise (~20-30 HU).
    series = ctsim.simulate_doses(
        ph.hu, [0.25], pixel_spacing_mm=ph.pixel_spacing_mm, rng=2, n_views=180, i0=1e4
    )
    return ph, series.truth, series.ld[0.25]


@pytest.mark.parametrize("name", sorted(BASELINES))
def test_baselines_reduce_liver_noise_and_keep_the_mean(name, low_dose):
    ph, truth, ld = low_dose
    kwargs = {"pixel_spacing_mm": ph.pixel_spacing_mm}
    if name == "gaussian":
        kwargs["sigma_mm"] = ph.pixel_spacing_mm  # 1 mm would be sub-pixel on this coarse grid
    else:
        kwargs["noise_roi"] = ph.liver_roi
    out = BASELINES[name](ld, **kwargs)
    assert out.shape == ld.shape and out.dtype == ld.dtype
    before = M.noise_sd(ld, ph.liver, reference=truth)
    after = M.noise_sd(out, ph.liver, reference=truth)
    assert after < 0.8 * before, (name, before, after)
    assert out[ph.liver].mean() == pytest.approx(ld[ph.liver].mean(), abs=3.0)
    assert M.psnr(out, truth) > M.psnr(ld, truth)


def test_stacks_are_filtered_slice_by_slice(low_dose):
    ph, _, ld = low_dose
    stack = np.stack([ld, ld[::-1]]).astype(np.float32)
    out = BASELINES["gaussian"](stack, pixel_spacing_mm=ph.pixel_spacing_mm)
    assert out.shape == stack.shape and out.dtype == np.float32
    np.testing.assert_allclose(out[1], out[0][::-1], atol=1e-3)


def test_sigma_comes_from_the_roi_then_the_estimate(low_dose):
    ph, _, ld = low_dose
    assert noise_sigma_hu(ld, sigma_hu=12.0) == 12.0
    roi_sd = noise_sigma_hu(ld, noise_roi=ph.liver_roi)
    assert roi_sd == pytest.approx(ld[ph.liver_roi].std(ddof=1))
    assert noise_sigma_hu(ld, pixel_spacing_mm=ph.pixel_spacing_mm) > 0
