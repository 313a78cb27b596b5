"""Training data: the unpaired low-dose (LD) and normal-dose (ND) slices from their source
(simulated phantoms or DICOM folders), patches, normalisation.

HU normalisation (used by every network in this package): HU are clipped to
``[hu_min, hu_max]`` (default [-1024, 3072], the Mayo-2016 convention) and
mapped linearly onto [-1, 1]::

    x = 2 * (clip(hu, hu_min, hu_max) - hu_min) / (hu_max - hu_min) - 1

so 1 unit = 2048 HU and liver noise of ~20 HU is ~0.01 units. ``unit_to_hu``
is the exact inverse inside the window.

The two training domains are *unpaired*: LD slices come from one set of
phantoms (or DICOM series), ND slices from a disjoint set, so no LD patch has
a matching ND patch anywhere in the data.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from denoiser.config import TrainConfig
from denoiser.simdata import simulated_training_data
from denoiser.training_data import PairedSlices, TrainingData

BODY_HU = -500.0  # pixels above this are "inside the patient" for foreground sampling


def hu_to_unit(hu: np.ndarray | torch.Tensor, hu_min: float, hu_max: float):
    scale = 2.0 / (hu_max - hu_min)
    if isinstance(hu, torch.Tensor):
        return (hu.clamp(hu_min, hu_max) - hu_min) * scale - 1.0
    return ((np.clip(hu, hu_min, hu_max) - hu_min) * scale - 1.0).astype(np.float32)


def unit_to_hu(x: np.ndarray | torch.Tensor, hu_min: float, hu_max: float):
    return (x + 1.0) * ((hu_max - hu_min) / 2.0) + hu_min


class PatchSampler:
    """Draws random, foreground-aware, augmented patches from a list of HU slices.

    ``foreground_fraction`` of the patches are centred on a body pixel (HU >
    -500), the rest anywhere, so the networks also see the air and the
    body outline without wasting most patches on empty background.
    """

    def __init__(
        self,
        slices: list[np.ndarray],
        cfg: TrainConfig,
        rng: np.random.Generator,
    ) -> None:
        if not slices:
            raise ValueError("no slices to sample patches from")
        p = cfg.patch_size
        self.units = [hu_to_unit(_pad_min(s, p), cfg.hu_min, cfg.hu_max) for s in slices]
        self.fg = [np.argwhere(_pad_min(s, p) > BODY_HU) for s in slices]
        self.cfg = cfg
        self.rng = rng

    def sample(self, batch: int) -> torch.Tensor:
        patches = [self._one() for _ in range(batch)]
        return torch.from_numpy(np.stack(patches)[:, None])

    def _one(self) -> np.ndarray:
        p, rng = self.cfg.patch_size, self.rng
        i = int(rng.integers(len(self.units)))
        img = self.units[i]
        h, w = img.shape
        fg = self.fg[i]
        if len(fg) and rng.random() < self.cfg.foreground_fraction:
            cy, cx = fg[rng.integers(len(fg))]
            top = int(np.clip(cy - p // 2, 0, h - p))
            left = int(np.clip(cx - p // 2, 0, w - p))
        else:
            top, left = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        patch = img[top : top + p, left : left + p]
        if self.cfg.augment:
            patch = np.rot90(patch, int(rng.integers(4)))
            if rng.random() < 0.5:
                patch = patch[:, ::-1]
        return np.ascontiguousarray(patch)


def nd_patches(
    cfg: TrainConfig, data: TrainingData | None, stream: int
) -> tuple[TrainingData, PatchSampler, torch.Generator]:
    """The seeded set-up of a pretraining task on ND patches: threads, data (loaded when not
    given), a patch sampler seeded ``seed + stream`` and a noise generator ``seed + stream + 1``
    (each task its own stream, so one task's draws never shift another's)."""
    torch.set_num_threads(max(1, cfg.threads))
    torch.manual_seed(cfg.seed)
    data = data if data is not None else load_training_data(cfg)
    sampler = PatchSampler(data.nd, cfg, np.random.default_rng(cfg.seed + stream))
    return data, sampler, torch.Generator().manual_seed(cfg.seed + stream + 1)


def _pad_min(img: np.ndarray, size: int) -> np.ndarray:
    """Slices smaller than a patch are padded with air so patches always fit."""
    h, w = img.shape
    if h >= size and w >= size:
        return img.astype(np.float32, copy=False)
    out = np.full((max(h, size), max(w, size)), -1024.0, dtype=np.float32)
    out[:h, :w] = img
    return out


def load_training_data(cfg: TrainConfig) -> TrainingData:
    if cfg.data_source == "simulated":
        return simulated_training_data(cfg)
    if cfg.data_source == "dicom":
        return dicom_training_data(cfg)
    raise ValueError(f"unknown data_source {cfg.data_source!r}; use 'simulated' or 'dicom'")


def dicom_training_data(cfg: TrainConfig) -> TrainingData:
    """Unpaired sets from DICOM series folders; paired validation only if both given."""
    if not cfg.ld_dirs or not cfg.nd_dirs:
        raise ValueError("data_source = 'dicom' needs ld_dirs and nd_dirs")
    ld = [s for d in cfg.ld_dirs for s in read_hu_slices(d)]
    nd = [s for d in cfg.nd_dirs for s in read_hu_slices(d)]
    val = None
    if cfg.val_ld_dirs and cfg.val_nd_dirs:
        vld = np.stack([s for d in cfg.val_ld_dirs for s in read_hu_slices(d)])
        vnd = np.stack([s for d in cfg.val_nd_dirs for s in read_hu_slices(d)])
        if vld.shape != vnd.shape:
            raise ValueError(f"paired validation shapes differ: {vld.shape} vs {vnd.shape}")
        val = PairedSlices(vld, vnd)
    return TrainingData(ld=ld, nd=nd, val=val)


def read_hu_slices(folder: str | Path) -> list[np.ndarray]:
    """HU slices of a DICOM series folder (rescale slope/intercept applied)."""
    from denoiser.dicom.read import read_series

    volume, _headers = read_series(folder)
    return list(volume.astype(np.float32, copy=False))
