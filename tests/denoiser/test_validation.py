"""Validation metrics: the noise-texture ratio tells ND-like noise from plastic noise."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy import ndimage

from denoiser.training_data import PairedSlices
from denoiser.validation import nps_peak_ratio, score
from denoiser.warmstart import fbp_like_noise


def fbp_noise(n: int, size: int, sd: float, seed: int) -> np.ndarray:
    gen = torch.Generator().manual_seed(seed)
    noise = fbp_like_noise((n, 1, size, size), torch.full((n,), sd), torch.ones(n), gen)
    return noise[:, 0].numpy()


def paired_set(size: int = 160) -> PairedSlices:
    truth = np.full((3, size, size), -1000.0, np.float32)
    truth[:, 10:-10, 10:-10] = 60.0  # soft tissue with a rim of air
    nd = truth + fbp_noise(3, size, 10.0, seed=1)
    return PairedSlices(ld=truth + fbp_noise(3, size, 20.0, seed=2), nd=nd, truth=truth)


def test_nd_like_noise_scores_about_one_and_blurred_noise_far_below() -> None:
    val = paired_set()
    same_texture = val.truth + fbp_noise(3, 160, 5.0, seed=3)  # less noise, same texture
    blurred = val.truth + ndimage.gaussian_filter(fbp_noise(3, 160, 20.0, seed=4), (0, 2, 2))
    assert 0.85 < nps_peak_ratio(same_texture, val) < 1.15
    assert nps_peak_ratio(blurred, val) < 0.6


def test_ratio_is_reported_only_when_measurable() -> None:
    val = paired_set()
    assert "nps_peak_ratio" in score(val.ld, val)
    no_truth = PairedSlices(ld=val.ld, nd=val.nd)
    assert "nps_peak_ratio" not in score(val.ld, no_truth)
    assert math.isnan(nps_peak_ratio(val.ld, no_truth))
    tiny = PairedSlices(
        ld=val.ld[:, :40, :40], nd=val.nd[:, :40, :40], truth=val.truth[:, :40, :40]
    )
    assert "nps_peak_ratio" not in score(tiny.ld, tiny)  # no 64-pixel ROI fits
