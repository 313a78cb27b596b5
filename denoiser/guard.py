"""Does an input look like what the model was trained on? Noise level and noise texture.

A denoiser trained on one range of noise (dose, patient size, pixel size) and texture
(reconstruction kernel) may do little, or harm, outside it, and nothing in its output says
so. The guard measures two things from the image alone (never from a DICOM tag the user
may not have):

- ``noise_sd_hu``: the noise SD in the flattest soft-tissue windows (each window's plane
  removed), the median over the windows of a few slices;
- ``sharpness``: the share of that noise's power above 0.25 cycles per pixel. Smooth
  kernels put most noise power at low and mid frequencies, sharp and edge-enhancing
  kernels at high ones (white noise: 0.8).

Training records the range of both over its LD slices (:func:`training_range`, stored in the
checkpoint's model card as ``input_range``); :func:`check` compares an input with it and
returns plain-language warnings that the job shows and the derived series carries.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass

import numpy as np

from denoiser.selfsupervised import detrend, flat_windows

WINDOW = 32  # pixels: big enough for the NPS's shape, small enough to find flat places
SLICES_MEASURED = 8  # spread over the volume
SHARP_FROM = 0.25  # cycles per pixel
# Tolerance around the trained range before a warning (measurement spread: about 10 %).
MARGIN = 0.15


@dataclass(frozen=True)
class InputStats:
    noise_sd_hu: float
    sharpness: float


def measure(volume_hu: np.ndarray) -> InputStats | None:
    """Noise SD and sharpness of a (slices, rows, cols) or (rows, cols) HU array, or None
    when no flat soft-tissue window exists (nothing to measure: not a soft-tissue image)."""
    vol = np.asarray(volume_hu, dtype=np.float64)
    stack = vol[None] if vol.ndim == 2 else vol
    picks = np.unique(np.linspace(0, len(stack) - 1, min(SLICES_MEASURED, len(stack))).round())
    variances, spectra = [], []
    for i in picks.astype(int):
        for roi in flat_windows(stack[i], WINDOW, 6):
            flat = detrend(roi)
            variances.append(flat.var())
            spectra.append(np.abs(np.fft.fft2(flat)) ** 2)
    if not variances:
        return None
    nps = np.mean(spectra, axis=0)
    f = np.hypot(*np.meshgrid(np.fft.fftfreq(WINDOW), np.fft.fftfreq(WINDOW), indexing="ij"))
    nps[0, 0] = 0.0
    sharp = float(nps[f > SHARP_FROM].sum() / max(nps.sum(), 1e-12))
    return InputStats(float(np.sqrt(np.median(variances))), sharp)


def training_range(slices: Sequence[np.ndarray]) -> dict[str, list[float]] | None:
    """The 2nd to 98th percentile of each statistic over training slices (one per slice)."""
    stats = [s for s in (measure(x) for x in slices) if s is not None]
    if not stats:
        return None
    out = {}
    for key in ("noise_sd_hu", "sharpness"):
        values = np.array([asdict(s)[key] for s in stats])
        out[key] = [float(np.percentile(values, 2)), float(np.percentile(values, 98))]
    return out


def check(stats: InputStats | None, trained: dict | None) -> list[str]:
    """Warnings for an input outside the trained range (empty: inside, or nothing to say)."""
    if not trained:
        return []
    if stats is None:
        return [
            "no flat soft tissue found to measure the noise: the input may not be a CT "
            "image of the kind the model was trained on"
        ]
    warnings = []
    lo, hi = trained["noise_sd_hu"]
    if stats.noise_sd_hu > hi * (1 + MARGIN):
        warnings.append(
            f"noise SD {stats.noise_sd_hu:.0f} HU is above the trained range "
            f"({lo:.0f}-{hi:.0f} HU): noise may be left behind"
        )
    elif stats.noise_sd_hu < lo * (1 - MARGIN):
        warnings.append(
            f"noise SD {stats.noise_sd_hu:.1f} HU is below the trained range "
            f"({lo:.0f}-{hi:.0f} HU): the image may be smoothed more than it needs"
        )
    lo, hi = trained["sharpness"]
    if not lo * (1 - MARGIN) <= stats.sharpness <= hi * (1 + MARGIN):
        kind = "sharper" if stats.sharpness > hi else "smoother"
        warnings.append(
            f"the noise texture is {kind} than any reconstruction kernel the model was "
            f"trained on (high-frequency share {stats.sharpness:.2f}, trained "
            f"{lo:.2f}-{hi:.2f})"
        )
    return warnings
