"""DICOM files for ingest tests: package-shipped CT files and small synthetic series."""

from __future__ import annotations

import io
import shutil
from pathlib import Path

import numpy as np
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import RLELossless, generate_uid

from denoiser.dicom.write import write_series
from denoiser.phantoms import abdominal_phantom

PYDICOM_DATA = Path(pydicom.__file__).parents[1] / "data_store" / "data"


def shipped(name: str) -> Path:
    """A CT file from pydicom's test files or the pydicom-data package."""
    local = PYDICOM_DATA / name
    if local.exists():
        return local
    path = get_testdata_file(name)
    assert path, f"{name} is not shipped by pydicom or pydicom-data"
    return Path(path)


def phantom_volume(slices: int, size: int, seed: int = 0) -> np.ndarray:
    """A small stack of phantom slices, each a little different (so slices are not identical)."""
    base = abdominal_phantom(size, seed).hu
    shifts = np.linspace(0.9, 1.1, slices, dtype=np.float32)
    return np.stack([base * s for s in shifts]).astype(np.float32)


def write_ct_series(
    out: Path, slices: int = 8, size: int = 32, seed: int = 0, **kwargs
) -> list[Path]:
    kwargs.setdefault("seed", f"test-{seed}-{slices}-{size}")
    return write_series(
        phantom_volume(slices, size, seed),
        out,
        patient_name="DOE^JANE",
        patient_id="MRN-0042",
        exposure_mas=30.0,
        ctdivol=2.1,
        **kwargs,
    )


def edit(path: Path, out: Path, **attributes) -> Path:
    ds = pydicom.dcmread(path)
    for keyword, value in attributes.items():
        if value is None:
            delattr(ds, keyword)
        else:
            setattr(ds, keyword, value)
    ds.save_as(out)
    return out


def fresh_copy(path: Path, out: Path) -> Path:
    """The file as a new instance of a new series (so it never collides with another test)."""
    return edit(
        path,
        out,
        SOPInstanceUID=generate_uid(),
        SeriesInstanceUID=generate_uid(),
        StudyInstanceUID=generate_uid(),
    )


def rle_copy(path: Path, out: Path) -> Path:
    ds = pydicom.dcmread(path)
    ds.compress(RLELossless)
    ds.save_as(out)
    return out


def as_bytes(path: Path) -> bytes:
    return Path(path).read_bytes()


def dataset_bytes(ds) -> bytes:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def copy(path: Path, out: Path) -> Path:
    shutil.copyfile(path, out)
    return out
