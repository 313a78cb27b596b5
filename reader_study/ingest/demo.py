"""Demo cases for a first run: simulated low-dose abdominal CT, ingested like any upload.

The phantom comes from the denoiser package (`denoiser.phantoms`), the low dose from its
projection-domain simulator (`denoiser.ctsim`), the DICOM files from `denoiser.dicom_io`;
then the files go through `service.ingest`, the same path as the upload page.
"""

from __future__ import annotations

import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import ndimage

from denoiser.ctsim import simulate_dose
from denoiser.dicom.write import write_series
from denoiser.phantoms import abdominal_phantom
from reader_study.ingest.report import IngestError, SourceFile
from reader_study.ingest.service import ingest
from reader_study.models import Case

AIR_HU = -1000.0
NORMAL_DOSE_MAS = 200.0
NORMAL_DOSE_CTDIVOL = 12.0


@dataclass(frozen=True)
class DemoCase:
    label: str
    seed: int
    dose_fraction: float


DEMO_CASES = (
    DemoCase("Demo LDCT 25% dose", seed=11, dose_fraction=0.25),
    DemoCase("Demo LDCT 10% dose", seed=12, dose_fraction=0.10),
)


def _scaled(hu: np.ndarray, scale: float) -> np.ndarray:
    """The slice grown or shrunk about its centre: neighbouring slices of a body differ."""
    centre = (np.array(hu.shape) - 1) / 2
    matrix = np.eye(2) / scale
    offset = centre - matrix @ centre
    return ndimage.affine_transform(hu, matrix, offset=offset, order=1, cval=AIR_HU)


def demo_volume(seed: int, dose_fraction: float, slices: int, size: int):
    phantom = abdominal_phantom(size, seed)
    images = []
    for index in range(slices):
        scale = 1.0 + 0.06 * np.sin(np.pi * index / max(slices - 1, 1))
        images.append(
            simulate_dose(
                _scaled(phantom.hu, scale),
                dose_fraction,
                rng=np.random.default_rng([seed, index]),
                pixel_spacing_mm=phantom.pixel_spacing_mm,
                n_views=180,  # fewer views: same dose and noise level, faster (see ctsim)
            )
        )
    return np.stack(images), phantom.pixel_spacing_mm


def seed_demo_cases(owner, *, slices: int = 10, size: int = 256) -> list[str]:
    """Creates the demo cases `owner` does not have yet; returns one line per case."""
    lines = []
    for demo in DEMO_CASES:
        if Case.objects.filter(owner=owner, label=demo.label).exists():
            lines.append(f"  demo case {demo.label!r} already there")
            continue
        volume, spacing = demo_volume(demo.seed, demo.dose_fraction, slices, size)
        with tempfile.TemporaryDirectory(prefix="ldct-demo-") as folder:
            paths = write_series(
                volume,
                folder,
                series_description=f"Simulated abdomen, {demo.dose_fraction:.0%} dose",
                pixel_spacing=spacing,
                slice_thickness=3.0,
                exposure_mas=NORMAL_DOSE_MAS * demo.dose_fraction,
                ctdivol=NORMAL_DOSE_CTDIVOL * demo.dose_fraction,
                seed=f"ldct-demo-{demo.seed}",
            )
            sources = [SourceFile(p.name, Path(p), Path(p).stat().st_size) for p in paths]
            try:
                report = ingest(owner=owner, label=demo.label, sources=sources)
            except IngestError as exc:  # a demo that cannot be made must not stop the seed
                lines.append(f"  demo case {demo.label!r} not created: {exc.report.message}")
                continue
        lines.append(f"  demo case {demo.label!r}: {report.message}")
    return lines
