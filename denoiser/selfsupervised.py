"""Learning from the noisy low-dose images themselves: Recorrupted-to-Recorrupted for CT.

The unpaired premise is strongest on the user's own low-dose cases: they carry the
scanner's real noise and real anatomy, with no reference at all. Recorrupted-to-Recorrupted
(R2R; Pang et al., CVPR 2021) turns one noisy image y = x + n into a training pair:

    input  = y + alpha z,        target = y - z / alpha,        z ~ N(0, C)

When z has the covariance C of the noise n, the input's noise (n + alpha z) and the
target's (n - z / alpha) are uncorrelated, so E||f(input) - target||^2 equals the supervised
loss against the clean x plus a constant: the network learns to denoise from noisy data
alone. Blind-spot losses (Noise2Void) assume pixel-independent noise, which CT's filtered
back-projection noise is not (it is correlated over several pixels), so here C is the
correlated noise of the scan: its power spectrum is estimated from the images
(:class:`NoiseModel`), and each patch's noise level from the patch itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy import ndimage

MAD_TO_SD = 1.4826


@dataclass
class NoiseModel:
    """The shape of the LD noise power spectrum on ``size`` x ``size`` patches.

    ``amplitude`` is the square root of the normalised 2D NPS (rfft layout), so white noise
    shaped by it has the scan's correlation and unit variance; ``hp_ratio`` is the SD of
    such noise after the 3x3 high-pass that :func:`patch_noise_sd` measures, per unit SD.
    """

    size: int
    amplitude: torch.Tensor
    hp_ratio: float

    @classmethod
    def estimate(cls, slices: Sequence[np.ndarray], size: int, per_slice: int = 24) -> NoiseModel:
        """From the flattest soft-tissue ``size``-pixel windows of the LD slices (each
        window's plane removed, so slow anatomy adds little power; any flat window where no
        soft tissue fits)."""
        spectra = []
        for hu in slices:
            for roi in flat_windows(np.asarray(hu, np.float64), size, per_slice, anywhere=True):
                spectra.append(np.abs(np.fft.rfft2(detrend(roi))) ** 2)
        if not spectra:
            raise ValueError(
                f"the low-dose slices are smaller than {size}x{size} pixels: the noise "
                "spectrum cannot be estimated from them (use a smaller patch size)"
            )
        nps = np.mean(spectra, axis=0)
        nps[0, 0] = 0.0  # the mean is not noise
        model = cls(size, torch.from_numpy(np.sqrt(nps)).float(), 1.0)
        probe = model.sample(64, torch.ones(64), torch.Generator().manual_seed(0))
        model.hp_ratio = float(_highpass(probe).std() / probe.std())
        return model

    def sample(self, n: int, sd: torch.Tensor, gen: torch.Generator | None = None):
        """``n`` noise patches (n, 1, size, size) with this spectrum and SD ``sd`` (n,)."""
        white = torch.randn((n, 1, self.size, self.size), generator=gen)
        shaped = torch.fft.irfft2(torch.fft.rfft2(white) * self.amplitude, s=(self.size,) * 2)
        shaped = shaped / shaped.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
        return shaped * sd.view(-1, 1, 1, 1)

    def patch_sd(self, x: torch.Tensor) -> torch.Tensor:
        """Each patch's noise SD, blind: the median absolute 3x3 high-pass, which edges and
        texture barely move, scaled by how much of this noise the high-pass keeps."""
        return patch_noise_sd(x) / self.hp_ratio


def _highpass(x: torch.Tensor) -> torch.Tensor:
    return x - F.avg_pool2d(F.pad(x, (1, 1, 1, 1), mode="reflect"), 3, stride=1)


def patch_noise_sd(x: torch.Tensor) -> torch.Tensor:
    hp = _highpass(x).flatten(1)
    centred = hp - hp.median(dim=1, keepdim=True).values
    return MAD_TO_SD * centred.abs().median(dim=1).values


def r2r_loss(
    net: torch.nn.Module,
    noisy: torch.Tensor,
    model: NoiseModel,
    alpha: float,
    gen: torch.Generator | None = None,
) -> torch.Tensor:
    """The R2R loss of ``net`` on a batch of LD patches (networks' unit space)."""
    if noisy.shape[-1] != model.size or noisy.shape[-2] != model.size:
        raise ValueError(f"patches are {tuple(noisy.shape[-2:])}, the noise model {model.size}")
    sd = model.patch_sd(noisy.detach().float().cpu())
    z = model.sample(noisy.shape[0], sd, gen).to(noisy.device, noisy.dtype)
    return F.mse_loss(net(noisy + alpha * z), noisy - z / alpha)


def flat_windows(hu: np.ndarray, size: int, count: int, anywhere: bool = False) -> list[np.ndarray]:
    """The ``count`` windows of soft tissue whose local variance is lowest (no overlap);
    ``anywhere``: where no soft-tissue window fits, the flattest windows of any kind."""
    if min(hu.shape) < size:
        return []
    # Soft tissue judged on a smoothed image, so strong noise does not hide it.
    smooth = ndimage.gaussian_filter(hu, 2.0)
    soft = (smooth > -300) & (smooth < 300)
    mean = ndimage.uniform_filter(hu, size)
    var = ndimage.uniform_filter(hu * hu, size) - mean * mean
    share = ndimage.uniform_filter(soft.astype(np.float64), size)
    half = size // 2
    # Window centres whose box [r - half, r - half + size) lies inside (odd sizes too).
    rows = np.arange(half, hu.shape[0] - size + half + 1, half)
    cols = np.arange(half, hu.shape[1] - size + half + 1, half)
    every = [(r, c) for r in rows for c in cols]
    # Soft tissue where there is room for it, else the flattest places of any kind (small or
    # unusual images: a rough spectrum is better than none).
    grid = [rc for rc in every if share[rc] > 0.99] or (every if anywhere else [])
    grid.sort(key=lambda rc: var[rc])
    windows, taken = [], np.zeros(hu.shape, dtype=bool)
    for r, c in grid:
        box = (slice(r - half, r - half + size), slice(c - half, c - half + size))
        if taken[box].any():
            continue
        windows.append(hu[box])
        taken[box] = True
        if len(windows) == count:
            break
    return windows


def detrend(roi: np.ndarray) -> np.ndarray:
    rows, cols = np.mgrid[: roi.shape[0], : roi.shape[1]]
    design = np.stack([np.ones(roi.size), rows.ravel(), cols.ravel()], axis=1)
    coef, *_ = np.linalg.lstsq(design, roi.ravel(), rcond=None)
    return roi - (design @ coef).reshape(roi.shape)
