"""Tiny configurations and data for the model tests, small enough that the suite stays fast."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from denoiser.config import TrainConfig
from denoiser.networks import DiscriminatorSpec, EncoderSpec, GeneratorSpec
from denoiser.training_data import PairedSlices, TrainingData

# One intra-op thread: networks this small gain nothing from more, and on a busy machine OpenMP
# threads spin-waiting on each other make every step many times slower.
torch.set_num_threads(1)

TINY_G = GeneratorSpec(base_width=4, depth=4, max_width=8, stem=2, res_blocks=1)


def tiny_config(out_dir: Path, **overrides) -> TrainConfig:
    cfg = TrainConfig(
        out_dir=str(out_dir),
        generator=GeneratorSpec(**TINY_G.to_dict()),
        discriminator=DiscriminatorSpec(width=4, layers=3),
        encoder=EncoderSpec(widths=[4, 8, 8]),
        encoder_path=str(Path(out_dir) / "enc.pt"),
        patch_size=24,
        batch_size=2,
        epochs=2,
        iters_per_epoch=3,
        log_every=1,
        checkpoint_every=2,
        encoder_iters=4,
        encoder_batch_size=2,
        perceptual_net="none",
    )
    for key, value in overrides.items():
        setattr(cfg, key, value)
    return cfg


def disk_slice(rng: np.random.Generator, size: int = 48, noise_hu: float = 10.0) -> np.ndarray:
    """A body-like disk with a liver-like insert, plus white noise; HU."""
    yy, xx = np.mgrid[:size, :size] - size / 2
    r = np.hypot(yy, xx)
    img = np.where(r < size * 0.4, 40.0, -1000.0)
    img[(np.abs(yy - 3) < size * 0.15) & (np.abs(xx + 4) < size * 0.15)] = 100.0
    return (img + rng.normal(0, noise_hu, img.shape)).astype(np.float32)


def tiny_data(seed: int = 0) -> TrainingData:
    rng = np.random.default_rng(seed)
    ld = [disk_slice(rng, noise_hu=60.0) for _ in range(3)]
    nd = [disk_slice(rng, noise_hu=10.0) for _ in range(3)]
    clean = disk_slice(rng, noise_hu=0.0)
    val = PairedSlices(
        ld=np.stack([clean + rng.normal(0, 60, clean.shape).astype(np.float32)]),
        nd=np.stack([clean + rng.normal(0, 10, clean.shape).astype(np.float32)]),
        liver_rois=[clean > 90],
    )
    return TrainingData(ld=ld, nd=nd, val=val)
