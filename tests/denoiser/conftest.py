"""Small shared fixtures for the denoiser tests (kept tiny: the suite must stay fast)."""

from __future__ import annotations

import numpy as np
import pytest

from denoiser.phantoms import Phantom, abdominal_phantom


@pytest.fixture(scope="session")
def small_phantom() -> Phantom:
    """A 128x128 abdominal phantom (2.8 mm pixels), the same on every run."""
    return abdominal_phantom(128, seed=7)


@pytest.fixture(scope="session")
def water_disk() -> tuple[np.ndarray, np.ndarray, float]:
    """128x128 water cylinder (HU 0) in air; returns (hu, central mask, pixel spacing mm)."""
    size, spacing = 128, 2.8
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2.0
    radius = np.hypot(yy, xx)
    hu = np.where(radius <= 0.4 * size, 0.0, -1000.0).astype(np.float32)
    return hu, radius <= 0.25 * size, spacing
