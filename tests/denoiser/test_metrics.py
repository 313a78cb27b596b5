import numpy as np
import pytest
from scipy.special import erfc
from skimage.metrics import peak_signal_noise_ratio, structural_similarity

from denoiser import ctsim
from denoiser import metrics as M


@pytest.fixture()
def reference():
    rng = np.random.default_rng(0)
    return rng.uniform(-100, 200, size=(64, 64))


def test_psnr_and_rmse_of_a_known_constant_error(reference):
    image = reference + 10.0  # every value stays inside both windows
    assert M.rmse(image, reference) == pytest.approx(10.0)
    assert M.psnr(image, reference) == pytest.approx(10 * np.log10(400**2 / 100))
    assert M.rmse(image, reference, "abdomen") == pytest.approx(10.0 / 400)
    assert M.psnr(image, reference, "abdomen") == pytest.approx(10 * np.log10(400**2 / 100))


def test_metrics_agree_with_scikit_image_after_windowing():
    rng = np.random.default_rng(1)
    ref = rng.uniform(-1000, 1000, size=(48, 48))
    img = ref + rng.normal(0, 80, size=ref.shape)
    clip_ref, clip_img = np.clip(ref, -160, 240), np.clip(img, -160, 240)
    assert M.psnr(img, ref) == pytest.approx(
        peak_signal_noise_ratio(clip_ref, clip_img, data_range=400)
    )
    assert M.ssim(img, ref) == pytest.approx(
        structural_similarity(clip_ref, clip_img, data_range=400)
    )
    unit = lambda x: (np.clip(x, -150, 250) + 150) / 400  # noqa: E731
    assert M.ssim(img, ref, "abdomen") == pytest.approx(
        structural_similarity(unit(ref), unit(img), data_range=1.0)
    )
    assert M.ssim(ref, ref) == pytest.approx(1.0)


def test_values_outside_the_window_do_not_count(reference):
    ref = np.full((16, 16), -1000.0)
    img = np.full((16, 16), -900.0)
    assert M.rmse(img, ref) == 0.0
    assert M.ssim(img, ref) == pytest.approx(1.0)


def test_noise_sd_and_cnr_on_a_synthetic_image():
    rng = np.random.default_rng(2)
    truth = np.zeros((200, 200))
    yy, xx = np.mgrid[:200, :200]
    lesion = np.hypot(yy - 100, xx - 100) < 20
    truth[lesion] = -20.0
    noisy = truth + rng.normal(0, 10.0, truth.shape)
    background = (np.hypot(yy - 100, xx - 100) > 30) & (np.hypot(yy - 100, xx - 100) < 90)
    assert M.noise_sd(noisy, background) == pytest.approx(10.0, rel=0.03)
    assert M.noise_sd(noisy, lesion, reference=truth) == pytest.approx(10.0, rel=0.08)
    assert M.cnr(noisy, lesion, background) == pytest.approx(2.0, rel=0.05)
    assert M.cnr(truth + 5, lesion, background | lesion) > 0
    with pytest.raises(ValueError):
        M.cnr(noisy, lesion, np.zeros_like(lesion))


def test_nps_of_white_noise_is_flat_and_integrates_to_the_variance():
    rng = np.random.default_rng(3)
    noise = rng.normal(0, 20.0, size=(4, 256, 256))
    nps = M.noise_power_spectrum(noise, 0.5, roi_size=64)
    assert nps.variance == pytest.approx(400.0, rel=0.03)
    assert nps.nps[1:].mean() == pytest.approx(400.0 * 0.5**2, rel=0.05)
    assert nps.frequencies[-1] == pytest.approx(1.0)  # Nyquist of 0.5 mm pixels


def test_nps_peak_of_band_pass_noise():
    rng = np.random.default_rng(4)
    n, spacing, f0 = 256, 0.7, 0.3
    f = np.fft.fftfreq(n, d=spacing)
    radius = np.hypot(*np.meshgrid(f, f, indexing="ij"))
    band = np.exp(-((radius - f0) ** 2) / (2 * 0.04**2))
    noise = np.real(np.fft.ifft2(np.fft.fft2(rng.normal(size=(6, n, n))) * band))
    nps = M.noise_power_spectrum(noise, spacing, roi_size=64)
    assert nps.peak_frequency == pytest.approx(f0, abs=1.0 / (64 * spacing))
    assert nps.mean_frequency == pytest.approx(f0, rel=0.1)


def test_nps_needs_rois_inside_the_mask():
    with pytest.raises(ValueError, match="ROI"):
        M.noise_power_spectrum(np.zeros((40, 40)), 1.0, roi_size=64)
    mask = np.zeros((128, 128), bool)
    mask[10:80, 10:80] = True
    rois = M.extract_rois(np.ones((128, 128)), 32, mask, stride=16)
    assert len(rois) == 9  # origins 16, 32, 48 in each direction fit in 10..79


def test_edge_rise_and_mtf50_of_a_gaussian_blurred_edge():
    n, spacing, sigma_mm, radius = 256, 0.5, 1.0, 80.0
    yy, xx = np.mgrid[:n, :n] - (n - 1) / 2
    r = np.hypot(yy, xx)
    image = -1000 + 900 * 0.5 * erfc((r - radius) / (np.sqrt(2) * sigma_mm / spacing))
    edge = M.edge_spread(image, r <= radius, spacing)
    assert edge.rise_distance_mm == pytest.approx(2 * 1.2816 * sigma_mm, rel=0.05)
    assert edge.mtf50 == pytest.approx(np.sqrt(np.log(2) / 2) / (np.pi * sigma_mm), rel=0.05)
    sharper = -1000 + 900 * 0.5 * erfc((r - radius) / (np.sqrt(2) * 0.5 / spacing))
    assert M.edge_rise_distance(sharper, r <= radius, spacing) < edge.rise_distance_mm


def test_edge_measure_is_insensitive_to_noise(small_phantom):
    ph = small_phantom
    series = ctsim.simulate_doses(
        ph.hu, [0.25], pixel_spacing_mm=ph.pixel_spacing_mm, rng=0, n_views=180
    )
    clean = M.edge_rise_distance(series.truth, ph.body, ph.pixel_spacing_mm)
    noisy = M.edge_rise_distance(series.ld[0.25], ph.body, ph.pixel_spacing_mm)
    assert noisy == pytest.approx(clean, rel=0.1)


def test_estimate_noise_sd_without_ground_truth(small_phantom):
    ph = small_phantom
    # 2.8 mm pixels are nearly noise-free at clinical flux; lower it to clinical noise levels.
    series = ctsim.simulate_doses(
        ph.hu, [0.25, 0.1], pixel_spacing_mm=ph.pixel_spacing_mm, rng=1, n_views=180, i0=1e4
    )
    for image in (series.nd, series.ld[0.25], series.ld[0.1]):
        true_sd = M.noise_sd(image, ph.liver, reference=series.truth)
        estimate = M.estimate_noise_sd(image, ph.pixel_spacing_mm)
        assert estimate == pytest.approx(true_sd, rel=0.25)


def test_disk_edge_spread_pools_low_contrast_disks():
    n, spacing, sigma_mm, radius = 256, 0.5, 0.8, 8.0
    yy, xx = np.mgrid[:n, :n]
    image = np.zeros((n, n))
    disks = []
    for k, (r0, c0) in enumerate([(60, 60), (60, 190), (190, 60), (190, 190)]):
        contrast = -10.0 - 5 * k
        d = np.hypot(yy - r0, xx - c0) * spacing - radius
        image += contrast * 0.5 * erfc(d / (np.sqrt(2) * sigma_mm))
        background = (d > 2) & (d < 2 + radius)
        disks.append(((float(r0), float(c0)), radius, contrast, background))
    edge = M.disk_edge_spread([image], [disks], spacing)
    assert edge.rise_distance_mm == pytest.approx(2 * 1.2816 * sigma_mm, rel=0.06)
    assert edge.esf[0] == pytest.approx(1.0, abs=0.02) and abs(edge.esf[-1]) < 0.02
    with pytest.raises(ValueError):
        M.disk_edge_spread([image], [[]], spacing)
    flat = M.disk_edge_spread([np.zeros((n, n))], [disks], spacing)  # no edge at all
    assert np.isnan(flat.rise_distance_mm)
