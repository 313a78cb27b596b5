"""Self-supervised pretraining of the CT encoder used by the perceptual loss.

A small denoising autoencoder learns to reconstruct normal-dose patches from
copies with synthetic CT-like noise added. Only ND images are used (no
pairs, no LD data), and because the input is noisy while the target is not
noisier, the encoder's features learn to describe anatomy and ignore noise,
which is what a perceptual loss for denoising needs (SACNN, Li et al. 2020).

Synthetic noise: white Gaussian noise band-passed by a difference of
Gaussians, which mimics the mid-frequency peak of FBP noise (ramp x
smoothing kernel); its SD is drawn per patch from ``encoder_noise_sd_hu``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from denoiser import checkpoint as ckpt
from denoiser.config import TrainConfig
from denoiser.cyclegan import _gaussian_blur
from denoiser.data import nd_patches
from denoiser.networks import CTAutoencoder
from denoiser.training_data import TrainingData


def ct_like_noise(shape: tuple[int, ...], sd_units: torch.Tensor, gen: torch.Generator):
    """Band-pass correlated noise with per-sample SD ``sd_units`` (shape (batch,))."""
    white = torch.randn(shape, generator=gen)
    band = _gaussian_blur(white, 0.7) - _gaussian_blur(white, 2.5)
    band = band / band.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-8)
    return band * sd_units.view(-1, 1, 1, 1)


def pretrain_encoder(
    cfg: TrainConfig,
    progress: Callable[[dict[str, Any]], None] | None = None,
    data: TrainingData | None = None,
) -> Path:
    """Train the CT autoencoder on ND patches; writes ``cfg.encoder_path`` and returns it."""
    _data, sampler, gen = nd_patches(cfg, data, stream=7)
    net = CTAutoencoder(cfg.encoder)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.encoder_lr)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(cfg.encoder_iters, 1))
    lo_sd, hi_sd = cfg.encoder_noise_sd_hu
    hu_per_unit = (cfg.hu_max - cfg.hu_min) / 2.0
    t0, losses = time.perf_counter(), []
    for it in range(1, cfg.encoder_iters + 1):
        clean = sampler.sample(cfg.encoder_batch_size)
        sd = (lo_sd + (hi_sd - lo_sd) * torch.rand(len(clean), generator=gen)) / hu_per_unit
        noisy = clean + ct_like_noise(tuple(clean.shape), sd, gen)
        loss = F.l1_loss(net(noisy), clean)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
        losses.append(loss.item())
        if progress and (it % cfg.log_every == 0 or it == cfg.encoder_iters):
            progress(
                {
                    "event": "encoder",
                    "iteration": it,
                    "total_iterations": cfg.encoder_iters,
                    "loss_l1_hu": float(np.mean(losses[-cfg.log_every :]) * hu_per_unit),
                    "seconds": time.perf_counter() - t0,
                }
            )
    metrics = {"final_l1_hu": float(np.mean(losses[-50:]) * hu_per_unit)}
    return ckpt.write_checkpoint(
        cfg.encoder_path,
        "ct_encoder",
        cfg.encoder.to_dict(),
        net.state_dict(),
        config=cfg.to_dict(),
        metrics=metrics,
        model_card={"name": "ct-encoder", "purpose": "perceptual-loss features (frozen)"},
    )
