"""CT slices as plain, self-contained DICOM files: the one format the viewers are sent.

A stored series may be classic or enhanced multi-frame, compressed or not, with any
rescale; a viewer gets each slice as a new Part 10 file built from nothing but a fixed
list of attributes: UIDs derived from a key, the geometry given, signed 16-bit Hounsfield
units (slope 1, intercept 0), one transfer syntax, one window. The blinded reading page
and the researcher's pair viewer both serve slices this way.
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.pixels import apply_rescale
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)

from reader_study.models import Instance, Series, StudyCase

ORDER = ("slice_position", "instance_number", "pk")
PRESETS = {
    "abdomen": ("Abdomen", 400, 40),
    "liver": ("Liver", 150, 30),
    "soft": ("Soft tissue", 350, 50),
    "bone": ("Bone", 1800, 400),
    "lung": ("Lung", 1500, -600),
}
HU_MIN, HU_MAX = -32768, 32767


@dataclass(frozen=True)
class Slice:
    instance: Instance
    frame: int  # 0 for single-frame images


def slices(series: Series, entry: StudyCase | None = None) -> list[Slice]:
    """The slices of `series` in slice order (frames of multi-frame images expanded), cut
    to the study case's slice range when one is given."""
    found = [
        Slice(instance, frame)
        for instance in series.instances.order_by(*ORDER)
        for frame in range(max(1, instance.number_of_frames))
    ]
    return found[entry.slice_start : entry.slice_stop] if entry else found


class DamagedFile(Exception):
    """A stored instance file that cannot be read back (truncated, overwritten, missing);
    the message names the file and the reason, for the operator's log."""


def _read(instance: Instance, pixels: bool) -> Dataset:
    try:
        with instance.file.open("rb") as fh, warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return pydicom.dcmread(fh, stop_before_pixels=not pixels)
    except Exception as exc:  # pydicom raises many types for damaged bytes
        raise _damaged(instance, exc) from exc


def _damaged(instance: Instance, exc: Exception) -> DamagedFile:
    return DamagedFile(f"{instance.file.name}: {type(exc).__name__}: {exc}")


def hounsfield(item: Slice) -> np.ndarray:
    """The slice in HU, rounded to whole numbers (as CT stores them)."""
    ds = _read(item.instance, pixels=True)
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    try:
        array = ds.pixel_array
    except Exception as exc:
        raise _damaged(item.instance, exc) from exc
    if frames > 1:
        array = array[item.frame]
        hu = _enhanced_rescale(ds, item.frame, array)
    else:
        hu = apply_rescale(array, ds)
    return np.clip(np.rint(hu), HU_MIN, HU_MAX).astype(np.int16)


def _enhanced_rescale(ds: Dataset, frame: int, array: np.ndarray) -> np.ndarray:
    transform = _functional(ds, frame, "PixelValueTransformationSequence")
    slope = float(transform.get("RescaleSlope", 1) if transform else ds.get("RescaleSlope", 1))
    intercept = float(
        transform.get("RescaleIntercept", 0) if transform else ds.get("RescaleIntercept", 0)
    )
    return array.astype(np.float64) * slope + intercept


def _functional(ds: Dataset, frame: int, keyword: str) -> Dataset | None:
    """A functional group macro of one frame: per-frame first, then shared."""
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = ds.get("SharedFunctionalGroupsSequence") or []
    for groups in (per_frame[frame : frame + 1], shared[:1]):
        for group in groups:
            if keyword in group and group[keyword].value:
                return group[keyword].value[0]
    return None


@dataclass(frozen=True)
class Geometry:
    position: list[float] | None
    orientation: list[float] | None
    spacing: list[float] | None
    thickness: float | None


def header_of(item: Slice) -> Geometry:
    """Where the slice lies: position, orientation, pixel spacing and thickness."""
    ds = _read(item.instance, pixels=False)
    if int(ds.get("NumberOfFrames", 1) or 1) > 1 or "PerFrameFunctionalGroupsSequence" in ds:
        plane = _functional(ds, item.frame, "PlanePositionSequence") or Dataset()
        orient = _functional(ds, item.frame, "PlaneOrientationSequence") or Dataset()
        measures = _functional(ds, item.frame, "PixelMeasuresSequence") or Dataset()
        return Geometry(
            _floats(plane.get("ImagePositionPatient")),
            _floats(orient.get("ImageOrientationPatient")),
            _floats(measures.get("PixelSpacing")),
            _float(measures.get("SliceThickness")),
        )
    return Geometry(
        _floats(ds.get("ImagePositionPatient")),
        _floats(ds.get("ImageOrientationPatient")),
        _floats(ds.get("PixelSpacing")),
        _float(ds.get("SliceThickness")),
    )


def _floats(value) -> list[float] | None:
    try:
        return [float(v) for v in value] if value is not None else None
    except (TypeError, ValueError):
        return None


def _float(value) -> float | None:
    try:
        return float(value) if value not in (None, "") else None
    except (TypeError, ValueError):
        return None


def _uid(key: str, *parts) -> str:
    # Derived from a key (a presentation's secret token): stable across requests, unrelated
    # to any stored UID, and the same for both sides.
    return generate_uid(entropy_srcs=[key, *map(str, parts)])


def build(key: str, index: int, geometry: Geometry, hu: np.ndarray, window) -> Dataset:
    """The whole file, from a fixed list of attributes (nothing copied from the stored one);
    UIDs derive from `key`, `window` is (width, center)."""
    width, center = window
    sop = _uid(key, "instance", index)
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CTImageStorage
    meta.MediaStorageSOPInstanceUID = sop
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = "LDCT_READING"
    ds = Dataset()
    ds.file_meta = meta
    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = sop
    ds.StudyDate = ds.StudyTime = ds.AccessionNumber = ds.ReferringPhysicianName = ""
    ds.Modality = "CT"
    ds.PatientName = "BLINDED"
    ds.PatientID = "BLINDED"
    ds.PatientBirthDate = ds.PatientSex = ""
    ds.StudyInstanceUID = _uid(key, "study")
    ds.SeriesInstanceUID = _uid(key, "series")
    ds.StudyID = "1"
    ds.SeriesNumber = 1
    ds.InstanceNumber = index + 1
    ds.FrameOfReferenceUID = _uid(key, "frame of reference")
    ds.PositionReferenceIndicator = ""
    if geometry.position and len(geometry.position) == 3:
        ds.ImagePositionPatient = [_ds(v) for v in geometry.position]
    if geometry.orientation and len(geometry.orientation) == 6:
        ds.ImageOrientationPatient = [_ds(v) for v in geometry.orientation]
    if geometry.spacing and len(geometry.spacing) == 2:
        ds.PixelSpacing = [_ds(v) for v in geometry.spacing]
    if geometry.thickness is not None:
        ds.SliceThickness = _ds(geometry.thickness)
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = (int(n) for n in hu.shape)
    ds.BitsAllocated = ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "HU"
    ds.WindowCenter = str(center)
    ds.WindowWidth = str(width)
    ds.PixelData = np.ascontiguousarray(hu, dtype="<i2").tobytes()
    return ds


def _ds(value: float) -> str:
    # A fixed textual form (DS holds at most 16 characters) so equal numbers are equal bytes.
    return f"{value:.6g}"


def encode(ds: Dataset) -> bytes:
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
