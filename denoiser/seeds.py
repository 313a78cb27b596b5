"""Phantom seed ranges: the one place that keeps training and evaluation anatomy apart.

A phantom is identified by its seed (``denoiser.phantoms.abdominal_phantom(size, seed)``), so
disjoint seed ranges mean disjoint anatomy. Training (and the perceptual feature network) may
draw only from ``TRAIN_SEEDS``; per-epoch validation uses ``VALIDATION_SEEDS``; the benchmark and
``python -m denoiser evaluate`` use ``EVALUATION_SEEDS`` and nothing else ever does.
"""

from __future__ import annotations

TRAIN_SEEDS = range(0, 1_000_000)
VALIDATION_SEEDS = range(1_000_000, 1_100_000)
# The general grid (denoiser.evaluation.general) takes its cells' tuning slices from the
# top of this range, up to 2,119,999.
EVALUATION_SEEDS = range(2_000_000, 2_200_000)

ALL_RANGES = {"train": TRAIN_SEEDS, "validation": VALIDATION_SEEDS, "evaluation": EVALUATION_SEEDS}


def seeds_for(split: str, n: int, offset: int = 0) -> list[int]:
    """The first ``n`` seeds of a split (after ``offset``), raising if the split runs out."""
    seeds = ALL_RANGES[split]
    if offset < 0 or offset + n > len(seeds):
        raise ValueError(f"{split} has {len(seeds)} seeds; asked for {n} from offset {offset}")
    return list(seeds[offset : offset + n])


def split_of(seed: int) -> str:
    """Which split a seed belongs to (``"unassigned"`` outside every range)."""
    for name, seeds in ALL_RANGES.items():
        if seed in seeds:
            return name
    return "unassigned"
