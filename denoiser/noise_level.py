"""The noise level of a CT slice, read in the air around the body.

A network that sees one small patch cannot tell fine anatomy from noise of the same
grain: trained over a range of doses, it smooths a quiet slice as much as a noisy one and
erases texture a tuned filter keeps. The air inside the field of view holds nothing but
noise (and the streaks the body casts), so its spread is a measure of the slice's noise
taken from the image alone, never from a DICOM tag the user may not have.

The value is a feature, not a calibrated SD: air sits just above the clipping floor
(-1024 HU), which cuts off the lower tail of strong noise, and the noise in air is lower
than inside the body. Training and inference compute it with this same function, so the
network learns what it means (:data:`denoiser.networks.GeneratorSpec.cond_dim`).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

AIR_BELOW_HU = -900.0  # a pixel whose neighbourhood mean is below this is air
NEIGHBOURHOOD = 7  # pixels: the mean that decides air, over the noise
AWAY_FROM_BODY = 4  # pixels of erosion: skin, couch edges and partial volume stay out
DETREND = 9  # pixels: the local mean taken off first (shading and streaks are not grain)
MIN_PIXELS = 1000  # fewer air pixels than this: no estimate
REFERENCE_HU = 16.0  # the condition is log2(sd / REFERENCE_HU): about -2 to 2 in practice


def air_noise_sd(slice_hu: np.ndarray, floor_hu: float = -1024.0) -> float | None:
    """Spread (HU) of the air around the body in a (rows, cols) slice clipped at
    ``floor_hu``, or None where too little air is in view (a tight field of view, a
    phantom filling the image). Padding outside the reconstruction circle (a constant
    value) is left out."""
    img = np.maximum(np.asarray(slice_hu, dtype=np.float32), floor_hu)
    air = ndimage.uniform_filter(img, NEIGHBOURHOOD) < AIR_BELOW_HU
    # A run of pixels exactly at one value is padding, not noise.
    padding = ndimage.uniform_filter((img == img.min()).astype(np.float32), 5) > 0.99
    air &= ~padding
    air = ndimage.binary_erosion(air, iterations=AWAY_FROM_BODY)
    if air.sum() < MIN_PIXELS:
        return None
    resid = img - ndimage.uniform_filter(img, DETREND)
    # The local mean includes the pixel itself: its share of the variance comes back.
    return float(resid[air].std() / np.sqrt(1.0 - 1.0 / DETREND**2))


def condition(sd_hu: float | None) -> list[float]:
    """The network's condition vector: [known, log2 of the spread against the reference];
    [0, 0] where nothing could be measured."""
    if sd_hu is None:
        return [0.0, 0.0]
    return [1.0, float(np.log2(max(sd_hu, 0.25) / REFERENCE_HU))]


def slice_conditions(slices_hu: np.ndarray, floor_hu: float = -1024.0) -> np.ndarray:
    """(slices, 2) float32 condition vectors for a (slices, rows, cols) stack."""
    return np.array(
        [condition(air_noise_sd(s, floor_hu)) for s in slices_hu], dtype=np.float32
    ).reshape(len(slices_hu), 2)
