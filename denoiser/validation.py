"""Validation during training: PSNR/SSIM on a paired simulated set.

Metric convention (stated with every number): HU truncated to [-160, 240],
data range 400 (the common LDCT convention, :data:`denoiser.metrics.LDCT_WINDOW`).
``psnr``/``ssim`` compare against the normal-dose image of the pair (what a
clinical paired set offers); ``psnr_truth``/``ssim_truth`` against the
noise-free reconstruction when the set is simulated. ``*_input`` are the same
numbers for the low-dose input, so every result has its baseline beside it.
``nps_peak_ratio`` is the output's noise texture against the normal-dose image's
(:func:`nps_peak_ratio`; the quality goal asks for 0.75 to 1.25).
"""

from __future__ import annotations

import numpy as np
import torch
from scipy import ndimage
from torch import nn

from denoiser import metrics
from denoiser.config import TrainConfig
from denoiser.training_data import PairedSlices


def _mean_scores(images: np.ndarray, refs: np.ndarray) -> tuple[float, float]:
    psnr = [metrics.psnr(i, r, "ldct") for i, r in zip(images, refs, strict=True)]
    ssim = [metrics.ssim(i, r, "ldct") for i, r in zip(images, refs, strict=True)]
    return float(np.mean(psnr)), float(np.mean(ssim))


def score(out: np.ndarray, val: PairedSlices) -> dict[str, float]:
    result: dict[str, float] = {}
    refs = {"": val.nd, "_truth": val.truth}
    for suffix, ref in refs.items():
        if ref is None:
            continue
        result["psnr" + suffix], result["ssim" + suffix] = _mean_scores(out, ref)
        result["psnr" + suffix + "_input"], result["ssim" + suffix + "_input"] = _mean_scores(
            val.ld, ref
        )
    if val.liver_rois:
        for key, images in (("liver_sd", out), ("liver_sd_input", val.ld), ("liver_sd_nd", val.nd)):
            # Against the noise-free truth when known, so phantom texture is not counted as noise.
            refs_t = val.truth if val.truth is not None else [None] * len(images)
            sds = [
                metrics.noise_sd(i, m, r)
                for i, m, r in zip(images, val.liver_rois, refs_t, strict=True)
            ]
            result[key] = float(np.mean(sds))
    ratio = nps_peak_ratio(out, val)
    if np.isfinite(ratio):  # no truth or no ROI fits: absent (NaN is not JSON for the job log)
        result["nps_peak_ratio"] = ratio
    return result


def nps_peak_ratio(out: np.ndarray, val: PairedSlices) -> float:
    """NPS peak frequency of the output over that of the normal-dose image (1: ND's texture;
    below 1: coarser, more plastic noise). Noise is image minus the noise-free truth, in
    64-pixel ROIs of soft tissue pooled over the set; NaN when no truth or no ROI fits."""
    if val.truth is None:
        return float("nan")
    if out.shape != val.truth.shape:
        raise ValueError(f"output {out.shape} and truth {val.truth.shape} differ in shape")
    soft = (val.truth > -200) & (val.truth < 300)
    masks = np.stack([ndimage.binary_erosion(m, iterations=4) for m in soft])
    try:
        peaks = [
            metrics.noise_power_spectrum(
                images, 1.0, mask=masks, reference=val.truth
            ).peak_frequency
            for images in (out, val.nd)
        ]
    except ValueError:  # no 64-pixel ROI fits inside the soft tissue
        return float("nan")
    return peaks[0] / peaks[1]


def validate(
    net: nn.Module, val: PairedSlices | None, cfg: TrainConfig, device: torch.device
) -> dict[str, float]:
    if val is None or len(val.ld) == 0:
        return {}
    from denoiser.inference import apply_generator

    out = apply_generator(net, val.ld, (cfg.hu_min, cfg.hu_max), device)
    return score(out, val)
