"""Validation during training: PSNR/SSIM on a paired simulated set.

Metric convention (stated with every number): HU truncated to [-160, 240],
data range 400 (the common LDCT convention), computed against the
normal-dose image of the pair. ``*_input`` are the same metrics for the
low-dose input, so every number has its baseline beside it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn

from denoiser.config import TrainConfig
from denoiser.data import PairedSlices

WINDOW = (-160.0, 240.0)


def window_psnr_ssim(img: np.ndarray, ref: np.ndarray) -> tuple[float, float]:
    from skimage.metrics import peak_signal_noise_ratio, structural_similarity

    lo, hi = WINDOW
    a = np.clip(img, lo, hi).astype(np.float64)
    b = np.clip(ref, lo, hi).astype(np.float64)
    rng = hi - lo
    return (
        float(peak_signal_noise_ratio(b, a, data_range=rng)),
        float(structural_similarity(b, a, data_range=rng)),
    )


def validate(
    net: nn.Module, val: PairedSlices | None, cfg: TrainConfig, device: torch.device
) -> dict[str, float]:
    if val is None or len(val.ld) == 0:
        return {}
    from denoiser.inference import apply_generator

    out = apply_generator(net, val.ld, (cfg.hu_min, cfg.hu_max), device)
    scores = [window_psnr_ssim(o, n) for o, n in zip(out, val.nd, strict=True)]
    inputs = [window_psnr_ssim(i, n) for i, n in zip(val.ld, val.nd, strict=True)]
    metrics = {
        "psnr": float(np.mean([s[0] for s in scores])),
        "ssim": float(np.mean([s[1] for s in scores])),
        "psnr_input": float(np.mean([s[0] for s in inputs])),
        "ssim_input": float(np.mean([s[1] for s in inputs])),
    }
    if val.liver_rois:
        sd_out = [float(o[m].std()) for o, m in zip(out, val.liver_rois, strict=True)]
        sd_in = [float(i[m].std()) for i, m in zip(val.ld, val.liver_rois, strict=True)]
        sd_nd = [float(n[m].std()) for n, m in zip(val.nd, val.liver_rois, strict=True)]
        metrics.update(
            liver_sd=float(np.mean(sd_out)),
            liver_sd_input=float(np.mean(sd_in)),
            liver_sd_nd=float(np.mean(sd_nd)),
        )
    return metrics
