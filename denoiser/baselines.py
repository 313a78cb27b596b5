"""Classical denoisers to measure the learned model against: BM3D, non-local means, Gaussian.

Each takes a 2D HU image (or a stack of them) and returns HU of the same shape and dtype.
Noise level is set the way a user without ground truth would set it: from the SD in a
homogeneous liver ROI of the noisy image (``noise_roi``), or when no ROI is given from
``metrics.estimate_noise_sd`` (an automatic liver-like ROI search). Filters run on HU mapped
linearly to [0, 1] from [-1024, 3072] HU (the usual CT normalisation) and are mapped back.

BM3D is given a white-noise sigma, as in most LDCT papers' baselines. CT noise is correlated
(band-pass), so BM3D leaves mid-frequency blotches. (The package's colored-noise mode, a PSD
instead of sigma, calls ``numpy.trapz``, which numpy 2.4 removed, so it is not offered here.)
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from scipy import ndimage
from skimage.restoration import denoise_nl_means

from denoiser.metrics import estimate_noise_sd

HU_LOW, HU_HIGH = -1024.0, 3072.0
_SCALE = HU_HIGH - HU_LOW

Denoise = Callable[..., np.ndarray]


def to_unit(hu: np.ndarray) -> np.ndarray:
    return (np.asarray(hu, np.float64) - HU_LOW) / _SCALE


def from_unit(x: np.ndarray) -> np.ndarray:
    return np.asarray(x, np.float64) * _SCALE + HU_LOW


def noise_sigma_hu(
    hu: np.ndarray,
    *,
    sigma_hu: float | None = None,
    noise_roi: np.ndarray | None = None,
    pixel_spacing_mm: float = 0.7,
) -> float:
    """Noise SD to hand a filter: given, else a liver ROI's SD, else an automatic estimate."""
    if sigma_hu is not None:
        return float(sigma_hu)
    if noise_roi is not None and noise_roi.sum() > 1:
        return float(np.asarray(hu, np.float64)[noise_roi].std(ddof=1))
    return estimate_noise_sd(hu, pixel_spacing_mm)


def _per_slice(fn: Callable[[np.ndarray], np.ndarray], hu: np.ndarray) -> np.ndarray:
    """Apply a 2D filter to a 2D image or each slice of a stack; keep shape and dtype."""
    array = np.asarray(hu)
    dtype = array.dtype if np.issubdtype(array.dtype, np.floating) else np.float32
    if array.ndim == 2:
        return fn(array).astype(dtype)
    if array.ndim == 3:
        return np.stack([fn(s) for s in array]).astype(dtype)
    raise ValueError(f"expected (rows, cols) or (slices, rows, cols), got {array.shape}")


def bm3d_denoise(
    hu: np.ndarray,
    *,
    sigma_hu: float | None = None,
    noise_roi: np.ndarray | None = None,
    pixel_spacing_mm: float = 0.7,
    psd: np.ndarray | None = None,
) -> np.ndarray:
    """BM3D (``bm3d`` package, both stages) with sigma from a liver ROI or an estimate, or,
    given ``psd`` (the noise power spectrum in HU^2 on the image's own FFT grid, scaled as
    ``|fft2(noise)|^2``), for that correlated noise: BM3D's own support for coloured noise."""
    import bm3d  # heavy import, only when used

    if psd is not None and not hasattr(np, "trapz"):
        # bm4d (under bm3d) estimates its coloured-noise parameters with np.trapz, which
        # NumPy 2.4 removed; np.trapezoid is the same function under its new name.
        np.trapz = np.trapezoid

    def one(image: np.ndarray) -> np.ndarray:
        if psd is not None:
            return from_unit(bm3d.bm3d(to_unit(image), psd / _SCALE**2))
        sigma = noise_sigma_hu(
            image, sigma_hu=sigma_hu, noise_roi=noise_roi, pixel_spacing_mm=pixel_spacing_mm
        )
        return from_unit(bm3d.bm3d(to_unit(image), sigma / _SCALE))

    return _per_slice(one, hu)


def nlm_denoise(
    hu: np.ndarray,
    *,
    sigma_hu: float | None = None,
    noise_roi: np.ndarray | None = None,
    pixel_spacing_mm: float = 0.7,
    h_factor: float = 0.8,
    patch_size: int = 5,
    patch_distance: int = 6,
) -> np.ndarray:
    """Non-local means (scikit-image, fast mode): filter strength h = h_factor * sigma."""

    def one(image: np.ndarray) -> np.ndarray:
        sigma = noise_sigma_hu(
            image, sigma_hu=sigma_hu, noise_roi=noise_roi, pixel_spacing_mm=pixel_spacing_mm
        )
        out = denoise_nl_means(
            to_unit(image),
            h=h_factor * sigma / _SCALE,
            sigma=sigma / _SCALE,
            patch_size=patch_size,
            patch_distance=patch_distance,
            fast_mode=True,
        )
        return from_unit(out)

    return _per_slice(one, hu)


def gaussian_denoise(
    hu: np.ndarray, *, sigma_mm: float = 1.0, pixel_spacing_mm: float = 0.7
) -> np.ndarray:
    """Gaussian smoothing (scipy) with a fixed width in mm: the simplest smooth-kernel baseline."""
    return _per_slice(
        lambda image: ndimage.gaussian_filter(
            np.asarray(image, np.float64), sigma_mm / pixel_spacing_mm
        ),
        hu,
    )


BASELINES: dict[str, Denoise] = {
    "bm3d": bm3d_denoise,
    "nlm": nlm_denoise,
    "gaussian": gaussian_denoise,
}
