import numpy as np
import pytest

from denoiser import ctsim


def _noise_sd(image, truth, mask):
    return float((image - truth)[mask].std())


def test_fbp_of_clean_sinogram_reproduces_hu(water_disk):
    hu, centre, spacing = water_disk
    hu = hu.copy()
    yy, xx = np.mgrid[:128, :128] - 63.5
    insert = np.hypot(yy, xx - 15) <= 8
    hu[insert] = 100.0
    rec = ctsim.reconstruct(ctsim.project(hu, spacing, 180), spacing)
    water = centre & ~(np.hypot(yy, xx - 15) <= 12)
    assert abs(rec[water].mean()) < 2.0
    assert rec[np.hypot(yy, xx - 15) <= 5].mean() == pytest.approx(100.0, abs=3.0)
    air = (np.hypot(yy, xx) > 0.45 * 128) & (np.hypot(yy, xx) < 60)
    assert rec[air].mean() == pytest.approx(-1000.0, abs=3.0)


def test_noise_sd_scales_like_inverse_sqrt_dose(water_disk):
    hu, centre, spacing = water_disk
    kwargs = dict(n_views=180, pixel_spacing_mm=spacing, electronic_noise=0.0)
    truth = ctsim.reconstruct(ctsim.project(hu, spacing, 180), spacing)
    sd = {
        f: np.mean(
            [
                _noise_sd(ctsim.simulate_dose(hu, f, rng=r, **kwargs), truth, centre)
                for r in range(3)
            ]
        )
        for f in (1.0, 0.25, 0.1)
    }
    assert sd[0.25] / sd[1.0] == pytest.approx(2.0, rel=0.08)
    assert sd[0.1] / sd[1.0] == pytest.approx(np.sqrt(10), rel=0.08)


def test_electronic_noise_adds_noise_mostly_at_low_dose(water_disk):
    hu, centre, spacing = water_disk
    truth = ctsim.reconstruct(ctsim.project(hu, spacing, 180), spacing)
    kwargs = dict(n_views=180, pixel_spacing_mm=spacing, rng=4, i0=2e3)
    quiet = ctsim.simulate_dose(hu, 0.1, electronic_noise=0.0, **kwargs)
    noisy = ctsim.simulate_dose(hu, 0.1, electronic_noise=30.0, **kwargs)
    assert _noise_sd(noisy, truth, centre) > 1.1 * _noise_sd(quiet, truth, centre)


def test_pair_is_correlated_like_noise_insertion(water_disk):
    hu, centre, spacing = water_disk
    series = ctsim.simulate_doses(hu, [0.25], n_views=180, pixel_spacing_mm=spacing, rng=1)
    n_nd = (series.nd - series.truth)[centre]
    n_ld = (series.ld[0.25] - series.truth)[centre]
    # Thinning makes LD noise = ND noise + independent extra noise: corr = sd_nd / sd_ld.
    corr = np.corrcoef(n_nd, n_ld)[0, 1]
    assert corr == pytest.approx(n_nd.std() / n_ld.std(), abs=0.08)
    assert corr == pytest.approx(0.5, abs=0.1)
    nd, ld = ctsim.simulate_pair(hu, 0.25, n_views=180, pixel_spacing_mm=spacing, rng=1)
    np.testing.assert_array_equal(nd, series.nd)
    np.testing.assert_array_equal(ld, series.ld[0.25])


def test_each_dose_is_reproducible_whatever_else_is_asked(water_disk):
    hu, _, spacing = water_disk
    kw = dict(n_views=90, pixel_spacing_mm=spacing, rng=9, with_truth=False)
    one = ctsim.simulate_doses(hu, [0.25], **kw)
    two = ctsim.simulate_doses(hu, [0.1, 0.25], **kw)
    np.testing.assert_array_equal(one.ld[0.25], two.ld[0.25])
    np.testing.assert_array_equal(one.nd, two.nd)


def test_noise_level_does_not_depend_on_view_count(water_disk):
    hu, centre, spacing = water_disk
    truth = ctsim.reconstruct(ctsim.project(hu, spacing, 360), spacing)
    sd = {}
    for views in (180, 360):
        img = ctsim.simulate_dose(hu, 0.25, n_views=views, pixel_spacing_mm=spacing, rng=3)
        sd[views] = _noise_sd(img, truth, centre)
    assert sd[180] == pytest.approx(sd[360], rel=0.12)


def test_insert_noise_adds_only_the_missing_variance(water_disk):
    hu, centre, spacing = water_disk
    kw = dict(n_views=180, pixel_spacing_mm=spacing)
    truth = ctsim.reconstruct(ctsim.project(hu, spacing, 180), spacing)
    nd = ctsim.simulate_dose(hu, 1.0, rng=5, **kw)
    ld = ctsim.insert_noise(nd, 0.25, rng=6, **kw)
    direct = ctsim.simulate_dose(hu, 0.25, rng=7, **kw)
    assert _noise_sd(ld, truth, centre) == pytest.approx(_noise_sd(direct, truth, centre), rel=0.1)
    assert abs((ld - nd)[centre].mean()) < 1.0


def test_insert_noise_calibrates_to_the_scans_own_noise(water_disk):
    hu, centre, spacing = water_disk
    # Without electronic noise the answer is exact: quarter dose doubles the scan's noise.
    kw = dict(n_views=180, pixel_spacing_mm=spacing, electronic_noise=0.0)
    truth = ctsim.reconstruct(ctsim.project(hu, spacing, 180), spacing)
    nd = ctsim.simulate_dose(hu, 1.0, rng=5, i0=3e3, **kw)  # a scan of unknown, low flux
    nd_sd = _noise_sd(nd, truth, centre)
    ld = ctsim.insert_noise(nd, 0.25, rng=6, nd_noise_sd=nd_sd, noise_roi=centre, **kw)
    assert _noise_sd(ld, truth, centre) == pytest.approx(2 * nd_sd, rel=0.12)


def test_phantom_simulation_noise_in_liver(small_phantom):
    ph = small_phantom
    series = ctsim.simulate_doses(
        ph.hu, [0.25], pixel_spacing_mm=ph.pixel_spacing_mm, rng=0, n_views=180
    )
    sd_nd = _noise_sd(series.nd, series.truth, ph.liver)
    sd_ld = _noise_sd(series.ld[0.25], series.truth, ph.liver)
    assert 1.7 < sd_ld / sd_nd < 2.4
    assert abs(series.ld[0.25][ph.liver].mean() - series.truth[ph.liver].mean()) < 3.0


def test_bad_inputs_raise(water_disk):
    hu, _, _ = water_disk
    with pytest.raises(ValueError, match="dose fraction"):
        ctsim.simulate_dose(hu, 0.0)
    with pytest.raises(ValueError, match="square"):
        ctsim.simulate_dose(hu[:, :100], 0.5)


def test_make_dataset_caches_slices(tmp_path):
    first = ctsim.make_dataset(2, size=64, doses=(0.25, 0.5), seed=2_000_000, cache_dir=tmp_path)
    files = sorted(tmp_path.glob("*.npz"))
    assert len(files) == 2
    again = ctsim.make_dataset(2, size=64, doses=[0.5, 0.25], seed=2_000_000, cache_dir=tmp_path)
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a.ld[0.25], b.ld[0.25])
        np.testing.assert_array_equal(a.phantom.liver_roi, b.phantom.liver_roi)
        assert [le.contrast_hu for le in a.phantom.lesions] == [
            le.contrast_hu for le in b.phantom.lesions
        ]
    assert first.stack("ld", 0.5).shape == (2, 64, 64)
    assert first.stack("clean").shape == (2, 64, 64)
    uncached = ctsim.make_dataset(1, size=64, doses=(0.25, 0.5), seed=2_000_000)
    np.testing.assert_array_equal(uncached[0].nd, first[0].nd)
