import numpy as np
import pytest
from scipy import ndimage

from denoiser.phantoms import LABELS, abdominal_phantom


@pytest.mark.parametrize("size", [64, 128, 199])
def test_any_size_gives_consistent_masks(size):
    ph = abdominal_phantom(size, seed=3)
    assert ph.hu.shape == (size, size) and ph.hu.dtype == np.float32
    for mask in (ph.body, ph.liver, ph.liver_roi, *ph.lesion_masks, *ph.background_rois):
        assert mask.shape == (size, size) and mask.dtype == bool
    assert ph.pixel_spacing_mm == pytest.approx(358.4 / size)
    assert ph.liver_roi.any() and ph.body.any()


def test_seed_determines_the_phantom():
    a, b, c = (abdominal_phantom(128, seed=s) for s in (11, 11, 12))
    np.testing.assert_array_equal(a.hu, b.hu)
    assert np.abs(a.hu - c.hu).mean() > 5.0


@pytest.mark.parametrize("size", [16, 48, 128])
def test_body_fits_the_scanner_circle_and_air_is_air(size):
    for seed in range(3):
        ph = abdominal_phantom(size, seed=seed)
        yy, xx = np.ogrid[:size, :size]
        # skimage's radon circle: centre size // 2, radius size // 2
        outside = (yy - size // 2) ** 2 + (xx - size // 2) ** 2 > (size // 2) ** 2
        assert (ph.hu[outside] == -1000.0).all()
        far = ~ndimage.binary_dilation(ph.body, iterations=2)
        np.testing.assert_allclose(ph.hu[far], -1000.0, atol=1.0)
        assert ph.liver_roi.any()


def test_realistic_hu_values(small_phantom):
    ph = abdominal_phantom(256, seed=21)
    assert 90 < ph.hu[ph.liver_roi].mean() < 120  # portal-venous liver
    assert ph.hu[ph.labels == LABELS["bone"]].max() > 500  # cortical bone
    assert ph.hu[ph.labels == LABELS["gas"]].min() < -850  # bowel gas
    fat = ph.labels == LABELS["fat"]
    assert -120 < np.median(ph.hu[fat]) < -60


def test_liver_roi_is_homogeneous_liver_of_about_1_5_cm2():
    ph = abdominal_phantom(256, seed=2)
    area = ph.liver_roi.sum() * ph.pixel_spacing_mm**2
    assert 100 < area < 200
    assert (ph.labels[ph.liver_roi] == LABELS["liver"]).all()
    assert ph.hu[ph.liver_roi].std() < 5.0  # texture only, no vessels or lesions


def test_lesions_are_low_contrast_with_liver_background():
    for seed in range(4):
        ph = abdominal_phantom(256, seed=seed)
        assert 1 <= len(ph.lesions) <= 4
        for lesion in ph.lesions:
            assert -30 <= lesion.contrast_hu <= -10
            assert (ph.liver[lesion.mask]).all()
            assert lesion.background.sum() > 20 and not (lesion.background & lesion.mask).any()
            core = ndimage.binary_erosion(lesion.mask, iterations=1)
            measured = ph.hu[core].mean() - ph.hu[lesion.background].mean()
            assert measured == pytest.approx(lesion.contrast_hu, abs=4.0)
