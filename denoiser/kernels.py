"""Reconstruction kernels: the FBP filters the simulator uses and the noise spectra they give.

A scanner's reconstruction kernel is the ramp filter times an apodization window ``W(f)``:
smooth (soft-tissue) kernels roll off early, sharp (bone, lung) kernels keep the high
frequencies, and edge-enhancing kernels lift the mid-to-high band above the ramp. The noise
of a filtered back-projection then has the radial power spectrum ``|f| W(f)^2``: the same
window shapes both the image's sharpness and its noise texture, which is why a denoiser has
to see every kernel's noise to work on every kernel's images.

Five windows are scikit-image's own (``iradon``'s filters); ``edge`` is modelled here as
the ramp lifted by up to 70 % at half the Nyquist frequency (an overshooting kernel like
the bone and lung kernels of clinical scanners), reconstructed with the same ramp as the
others so that only the window differs.
"""

from __future__ import annotations

import numpy as np

# From smooth to sharp. "edge" is the only one scikit-image's iradon does not know.
KERNELS: tuple[str, ...] = ("hann", "hamming", "cosine", "shepp-logan", "ramp", "edge")
SKIMAGE_KERNELS = frozenset({"hann", "hamming", "cosine", "shepp-logan", "ramp"})
EDGE_GAIN = 0.7


def check_kernel(name: str) -> str:
    if name not in KERNELS:
        raise ValueError(f"unknown reconstruction kernel {name!r}; use one of {', '.join(KERNELS)}")
    return name


def window(name: str, f: np.ndarray, cutoff: float = 1.0) -> np.ndarray:
    """Apodization ``W`` at frequencies ``f`` (cycles per pixel, Nyquist 0.5).

    ``cutoff`` scales the window along the frequency axis (1: reaches its end at Nyquist;
    0.6: a kernel whose roll-off ends at 0.6 x Nyquist, as a smooth kernel looks on small
    pixels). Beyond its end every window is zero.
    """
    check_kernel(name)
    r = np.abs(np.asarray(f, dtype=np.float64)) / (0.5 * cutoff)  # 1 at the window's end
    inside = r <= 1.0
    if name == "ramp":
        w = np.ones_like(r)
    elif name == "shepp-logan":
        w = np.sinc(r / 2.0)  # sin(pi r / 2) / (pi r / 2)
    elif name == "cosine":
        w = np.cos(0.5 * np.pi * r)
    elif name == "hamming":
        w = 0.54 + 0.46 * np.cos(np.pi * r)
    elif name == "hann":
        w = 0.5 + 0.5 * np.cos(np.pi * r)
    else:  # edge
        w = 1.0 + EDGE_GAIN * np.sin(np.pi * r) ** 2
    return np.where(inside, w, 0.0)


def noise_amplitude(name: str, f: np.ndarray, cutoff: float = 1.0, ramp_exponent: float = 1.0):
    """Amplitude spectrum of FBP noise with this kernel: ``sqrt(|f|^p) x W(f)``."""
    return np.abs(f) ** (0.5 * ramp_exponent) * window(name, f, cutoff)


def ramp_filter(size: int) -> np.ndarray:
    """The ramp filter on ``size`` padded samples, from its sampled spatial form (Kak and
    Slaney, ch. 3, eq. 61), exactly as scikit-image builds it, so kernels compare fairly."""
    n = np.concatenate((np.arange(1, size / 2 + 1, 2), np.arange(size / 2 - 1, 0, -2)))
    spatial = np.zeros(size)
    spatial[0] = 0.25
    spatial[1::2] = -1.0 / (np.pi * n) ** 2
    return 2.0 * np.real(np.fft.fft(spatial))


def filter_sinogram(sinogram: np.ndarray, name: str) -> np.ndarray:
    """Apply the ramp times ``name``'s window along the detector axis (rows), zero-padded as
    scikit-image pads, so that an unfiltered ``iradon`` of the result is this kernel's FBP."""
    rows = sinogram.shape[0]
    padded = max(64, int(2 ** np.ceil(np.log2(2 * rows))))
    spectrum = np.fft.fft(np.pad(sinogram, ((0, padded - rows), (0, 0))), axis=0)
    response = ramp_filter(padded) * window(name, np.fft.fftfreq(padded))
    return np.real(np.fft.ifft(spectrum * response[:, None], axis=0))[:rows]
