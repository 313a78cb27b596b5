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

from denoiser import noise_level
from denoiser.anatomy_data import anatomy_training_data
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
        i, top, left, rot, flip = self.place()
        return self.crop(self.units[i], top, left, rot, flip)

    def place(self) -> tuple[int, int, int, int, bool]:
        """Which slice, where, and how the patch is turned: (index, top, left, rot, flip).
        The draws are those the sampler always made, in the same order."""
        p, rng = self.cfg.patch_size, self.rng
        i = int(rng.integers(len(self.units)))
        h, w = self.units[i].shape
        fg = self.fg[i]
        if len(fg) and rng.random() < self.cfg.foreground_fraction:
            cy, cx = fg[rng.integers(len(fg))]
            top = int(np.clip(cy - p // 2, 0, h - p))
            left = int(np.clip(cx - p // 2, 0, w - p))
        else:
            top, left = int(rng.integers(h - p + 1)), int(rng.integers(w - p + 1))
        rot, flip = 0, False
        if self.cfg.augment:
            rot = int(rng.integers(4))
            flip = bool(rng.random() < 0.5)
        return i, top, left, rot, flip

    def crop(self, img: np.ndarray, top: int, left: int, rot: int, flip: bool) -> np.ndarray:
        p = self.cfg.patch_size
        patch = np.rot90(img[top : top + p, left : left + p], rot)
        return np.ascontiguousarray(patch[:, ::-1] if flip else patch)


class PairPatchSampler:
    """Patches of a noise-free image and of the same place in its low-dose scan.

    ``sample`` gives (noisy, clean) in the networks' unit space: clean is the truth patch,
    noisy the truth plus the scan's own noise (LD minus truth) times a factor drawn per
    patch from ``scale`` (a factor s scales the noise as a dose 1/s^2 times the scan's
    would; 0 gives the clean patch). Crops and augmentations are shared by both patches.
    """

    def __init__(
        self,
        pairs: list[tuple[np.ndarray, np.ndarray]],
        cfg: TrainConfig,
        rng: np.random.Generator,
        scale: list[float],
    ) -> None:
        if not pairs:
            raise ValueError("no (truth, low-dose) pairs: warm_target 'truth' needs them")
        self.truths = PatchSampler([t for t, _ in pairs], cfg, rng)
        # The noise in HU: clipping it like an image would cut its negative half off.
        self.noise = []
        for t, ld in pairs:
            noise = np.zeros(_pad_min(t, cfg.patch_size).shape, dtype=np.float32)
            noise[: t.shape[0], : t.shape[1]] = ld - t  # air padding carries no noise
            self.noise.append(noise)
        self.unit = 2.0 / (cfg.hu_max - cfg.hu_min)
        self.scale = scale
        self.rng = rng
        self.truths.rng = rng
        self.levels = None
        if cfg.generator.cond_dim:  # each slice's air noise at each noise factor, up front
            self.levels = [_air_levels(t, ld, scale, cfg.hu_min) for t, ld in pairs]
        self.last_conditions: np.ndarray | None = None

    def sample(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(noisy, clean); for a conditioned generator, each patch's whole-slice condition
        (:mod:`denoiser.noise_level`) is left in ``last_conditions``."""
        clean, noise, conds = [], [], []
        for _ in range(batch):
            i, top, left, rot, flip = self.truths.place()
            c = self.truths.crop(self.truths.units[i], top, left, rot, flip)
            n = self.truths.crop(self.noise[i], top, left, rot, flip)
            factor = self.rng.uniform(*self.scale)
            clean.append(c)
            noise.append(n * self.unit * factor)
            if self.levels is not None:
                grid, sds = self.levels[i]
                sd = float(np.interp(factor, grid, sds))
                conds.append(noise_level.condition(None if np.isnan(sd) else sd))
        self.last_conditions = np.array(conds, dtype=np.float32) if conds else None
        clean_t = torch.from_numpy(np.stack(clean)[:, None])
        return clean_t + torch.from_numpy(np.stack(noise)[:, None].astype(np.float32)), clean_t


def _air_levels(
    truth: np.ndarray, ld: np.ndarray, scale: list[float], floor_hu: float, points: int = 16
) -> tuple[np.ndarray, np.ndarray]:
    """The air noise (noise_level.air_noise_sd) of truth + f * (ld - truth) on a grid of
    factors f over ``scale``, interpolated per patch: the measure is not linear in f (strong
    noise in air is clipped at the floor). NaN-free: no air reads as 0 HU."""
    grid = np.linspace(scale[0], scale[1], points) if scale[1] > scale[0] else np.array(scale[:1])
    sds = [noise_level.air_noise_sd(truth + f * (ld - truth), floor_hu) for f in grid]
    return grid, np.array([np.nan if sd is None else sd for sd in sds])


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


def load_training_data(cfg: TrainConfig, progress=None, workers: int = 1) -> TrainingData:
    if cfg.data_source == "simulated":
        return simulated_training_data(cfg, progress, workers)
    if cfg.data_source == "anatomy":
        return anatomy_training_data(cfg, progress, workers)
    if cfg.data_source == "dicom":
        return dicom_training_data(cfg)
    raise ValueError(
        f"unknown data_source {cfg.data_source!r}; use 'simulated', 'anatomy' or 'dicom'"
    )


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
