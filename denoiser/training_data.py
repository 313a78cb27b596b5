"""The slices training reads, in HU: two unpaired domains and a paired validation set.

Plain containers, apart from every data source (simulated phantoms, DICOM folders, the web
app's training jobs), so each source fills them without importing the others.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np


@dataclass
class PairedSlices:
    """A paired validation/evaluation set in HU, slices shaped (n, rows, cols)."""

    ld: np.ndarray
    nd: np.ndarray
    liver_rois: list[np.ndarray] = field(default_factory=list)
    truth: np.ndarray | None = None  # noise-free reconstruction, when simulated


@dataclass
class TrainingData:
    ld: list[np.ndarray]  # HU slices of the LD domain
    nd: list[np.ndarray]  # HU slices of the ND domain (different anatomy)
    val: PairedSlices | None
    # (noise-free reconstruction, low-dose scan) of the LD-domain phantoms, when the source
    # knows the truth (data_source = "anatomy"): the warm start's "truth" target uses them.
    pairs: list[tuple[np.ndarray, np.ndarray]] = field(default_factory=list)
