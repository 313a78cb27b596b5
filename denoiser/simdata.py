"""Simulated training data: unpaired LD/ND phantom slices with an on-disk cache.

The LD domain is made of phantoms ``seeds[0:n]`` scanned at a random dose in
[dose_min, dose_max]; the ND domain of *other* phantoms ``seeds[n:2n]`` at
normal dose (ND is realistic: it carries normal-dose noise). The paired
validation set uses the validation seed range. No seed is ever taken from
the evaluation range of :mod:`denoiser.seeds`.

Projection-domain simulation is slow, so every slice is
cached as ``.npz`` under ``cache_dir`` keyed by its role, seed, size and dose;
a second run (or a resumed one) reads the cache.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np

from denoiser.config import TrainConfig
from denoiser.training_data import PairedSlices, TrainingData


def training_seeds(cfg: TrainConfig) -> tuple[list[int], list[int], list[int]]:
    """(LD seeds, ND seeds, validation seeds), pairwise disjoint.

    LD and ND come from :data:`denoiser.seeds.TRAIN_SEEDS` (two blocks from
    ``phantom_seed_start``), validation from ``VALIDATION_SEEDS``; evaluation
    seeds are never touched, so the benchmark shows anatomy the model never saw.
    """
    from denoiser import seeds

    n = cfg.sim_slices_per_domain
    train = list(range(cfg.phantom_seed_start, cfg.phantom_seed_start + 2 * n))
    wrong = [s for s in train if seeds.split_of(s) != "train"]
    if wrong:
        raise ValueError(f"phantom seeds {wrong[:5]} are outside the training seed range")
    return train[:n], train[n:], seeds.seeds_for("validation", cfg.val_slices)


def _cache_path(cfg: TrainConfig, role: str, seed: int, dose: float) -> Path:
    return Path(cfg.cache_dir) / f"{role}_s{seed}_n{cfg.sim_size}_d{dose:.4f}.npz"


def _dose_for(cfg: TrainConfig, seed: int) -> float:
    # Derived from the seed, so a slice's dose never depends on generation order.
    rng = np.random.default_rng([seed, 0xD05E])
    return float(rng.uniform(cfg.dose_min, cfg.dose_max))


def simulated_slice(cfg: TrainConfig, role: str, seed: int) -> dict[str, np.ndarray]:
    """One cached slice: role "ld" / "nd" (unpaired domains) or "val" (paired ld + nd)."""
    from denoiser import ctsim
    from denoiser.phantoms import abdominal_phantom

    dose = {"ld": _dose_for(cfg, seed), "nd": 1.0, "val": cfg.val_dose}[role]

    def make() -> dict[str, np.ndarray]:
        phantom = abdominal_phantom(cfg.sim_size, seed=seed)
        rng = np.random.default_rng([seed, 0x51])
        kw = {"rng": rng, "pixel_spacing_mm": phantom.pixel_spacing_mm}
        if role != "val":
            return {"hu": ctsim.simulate_dose(phantom.hu, dose, **kw)}
        series = ctsim.simulate_doses(phantom.hu, [dose], with_truth=True, **kw)
        out = {"ld": series.ld[dose], "nd": series.nd, "truth": series.truth}
        return {**out, "liver_roi": phantom.liver_roi}

    return cached_npz(_cache_path(cfg, role, seed, dose), make)


def cached_npz(path: Path, make: Callable[[], dict[str, np.ndarray]]) -> dict[str, np.ndarray]:
    """The arrays cached at ``path``, or ``make()``'s, written there whole or not at all (a
    crash mid-write leaves no half file under the real name for the next run to trust)."""
    if path.exists():
        with np.load(path) as z:
            return dict(z)
    out = make()
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".tmp.npz")
    np.savez_compressed(tmp, **out)
    tmp.replace(path)
    return out


def _fill_cache(job: tuple[TrainConfig, str, int]) -> None:
    simulated_slice(*job)


def simulated_training_data(cfg: TrainConfig, progress=None, workers: int = 1) -> TrainingData:
    """The simulated LD, ND and validation sets; ``workers`` > 1 fills the cache in that many
    processes first (each slice is seeded by itself, so the data do not depend on it)."""
    ld_seeds, nd_seeds, val_seeds = training_seeds(cfg)
    jobs = [("ld", s) for s in ld_seeds] + [("nd", s) for s in nd_seeds]
    jobs += [("val", s) for s in val_seeds]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_fill_cache, [(cfg, role, seed) for role, seed in jobs]))
    ld, nd, val = [], [], []
    for i, (role, seed) in enumerate(jobs):
        item = simulated_slice(cfg, role, seed)
        {"ld": ld, "nd": nd, "val": val}[role].append(item)
        if progress:
            progress(i + 1, len(jobs))
    paired = None
    if val:
        paired = PairedSlices(
            ld=np.stack([v["ld"] for v in val]),
            nd=np.stack([v["nd"] for v in val]),
            liver_rois=[v["liver_roi"] for v in val],
            truth=np.stack([v["truth"] for v in val]),
        )
    return TrainingData(ld=[x["hu"] for x in ld], nd=[x["hu"] for x in nd], val=paired)
