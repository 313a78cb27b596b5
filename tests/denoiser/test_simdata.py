"""Simulated training data: filling the cache in parallel gives the same slices."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from denoiser.config import TrainConfig
from denoiser.simdata import simulated_training_data


def small(cache: Path) -> TrainConfig:
    return TrainConfig(sim_size=64, sim_slices_per_domain=1, val_slices=1, cache_dir=str(cache))


def test_parallel_cache_matches_serial(tmp_path: Path) -> None:
    serial = simulated_training_data(small(tmp_path / "a"))
    parallel = simulated_training_data(small(tmp_path / "b"), workers=2)
    assert len(list((tmp_path / "b").iterdir())) == 3  # one LD, one ND, one validation slice
    for a, b in [(serial.ld[0], parallel.ld[0]), (serial.nd[0], parallel.nd[0])]:
        assert np.array_equal(a, b)
    assert np.array_equal(serial.val.truth, parallel.val.truth)
    assert np.array_equal(serial.val.ld, parallel.val.ld)
