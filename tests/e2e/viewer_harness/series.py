"""Phantom DICOM series for the viewer checks: side A, a noisier side B, and their difference."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from denoiser.dicom.write import write_series
from denoiser.phantoms import abdominal_phantom


def write_pair(folder: Path, *, slices: int = 20, size: int = 128) -> dict[str, list[Path]]:
    """Write sides A, B and D (B - A) as one file per slice; returns the paths by side, in order.

    A and B carry different default windows in their headers on purpose: the viewer must show
    the study's preset, not whichever header loaded last.
    """
    rng = np.random.default_rng(7)
    truth = np.stack([abdominal_phantom(size=size, seed=index).hu for index in range(slices)])
    side_a = truth + rng.normal(0.0, 8.0, truth.shape)
    side_b = truth + rng.normal(0.0, 45.0, truth.shape)
    frame = "1.2.826.0.1.3680043.8.498.1"
    common = {"frame_of_reference_uid": frame, "seed": "viewer-harness"}
    return {
        "A": write_series(side_a, folder / "A", series_number=1, window=(-600.0, 1500.0), **common),
        "B": write_series(side_b, folder / "B", series_number=2, window=(50.0, 350.0), **common),
        "D": write_series(side_b - side_a, folder / "D", series_number=3, **common),
    }
