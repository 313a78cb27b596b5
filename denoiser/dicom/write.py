"""Writing a HU volume as a new, valid CT Image Storage series (demo cases, tests), and the
pixel encoding and file saving that derived series share."""

from __future__ import annotations

import datetime as dt
import os
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import DSfloat

IMPLEMENTATION_VERSION = "LDCT_STUDIO_1"
MANUFACTURER = "LDCT Reader Studio"


def write_series(
    volume_hu: np.ndarray,
    out_dir: str | os.PathLike,
    *,
    patient_name: str = "PHANTOM^DEMO",
    patient_id: str = "PHANTOM",
    study_description: str = "Simulated abdominal CT",
    series_description: str = "Abdomen",
    pixel_spacing: tuple[float, float] | float = 0.7,
    slice_thickness: float = 3.0,
    spacing_between_slices: float | None = None,
    kvp: float = 120.0,
    exposure_mas: float | None = None,
    ctdivol: float | None = None,
    convolution_kernel: str = "SMOOTH",
    study_uid: str | None = None,
    series_uid: str | None = None,
    frame_of_reference_uid: str | None = None,
    series_number: int = 1,
    window: tuple[float, float] = (50.0, 400.0),
    study_datetime: dt.datetime | None = None,
    first_position: tuple[float, float, float] | None = None,
    seed: int | str | None = None,
    filename_prefix: str = "CT",
) -> list[Path]:
    """Write a HU volume as a CT Image Storage series, one file per slice; returns the paths.

    Args:
        volume_hu: (slices, rows, cols) or (rows, cols) Hounsfield units.
        out_dir: created if missing; files are ``{filename_prefix}{instance:04d}.dcm``.
        pixel_spacing: (row, column) spacing in mm, or one number for square pixels.
        slice_thickness / spacing_between_slices: mm (spacing defaults to the thickness); slice
            ``i`` sits at z = first z + i * spacing, so index order is position order.
        kvp, exposure_mas, ctdivol, convolution_kernel: acquisition attributes to record.
        study_uid, series_uid, frame_of_reference_uid: reuse existing ones (e.g. to add a series
            to a study); otherwise new ones are made.
        seed: makes every generated UID deterministic (demo data that is the same on each run).
        window: (center, width) in HU for viewers' default display.

    Pixels are stored as 16-bit unsigned with RescaleIntercept -1024 and slope 1 (the common CT
    encoding), explicit VR little endian, uncompressed; HU below -1024 are clipped to -1024 and
    above 64511 to 64511, and values are rounded to whole HU.
    """
    volume = as_volume(volume_hu)
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    row_mm, col_mm = _pair(pixel_spacing)
    step = float(spacing_between_slices or slice_thickness)
    rows, cols = volume.shape[1:]
    if first_position is None:
        first_position = (-(cols - 1) / 2 * col_mm, -(rows - 1) / 2 * row_mm, 0.0)
    when = study_datetime or dt.datetime.now(dt.UTC)

    def uid(*parts: object) -> str:
        if seed is None:
            return generate_uid()
        return generate_uid(entropy_srcs=[str(seed), *map(str, parts)])

    study_uid = study_uid or uid("study")
    series_uid = series_uid or uid("series", series_number)
    frame_uid = frame_of_reference_uid or uid("frame-of-reference")

    paths = []
    for index, image in enumerate(volume):
        ds = Dataset()
        ds.SpecificCharacterSet = "ISO_IR 192"
        ds.SOPClassUID = CTImageStorage
        ds.SOPInstanceUID = uid(series_uid, "instance", index)
        _set_patient_and_study(ds, patient_name, patient_id, study_uid, study_description, when)
        ds.Modality = "CT"
        ds.SeriesInstanceUID = series_uid
        ds.SeriesNumber = series_number
        ds.SeriesDescription = series_description[:64]
        ds.SeriesDate = ds.ContentDate = ds.AcquisitionDate = when.strftime("%Y%m%d")
        ds.SeriesTime = ds.ContentTime = ds.AcquisitionTime = when.strftime("%H%M%S")
        ds.BodyPartExamined = "ABDOMEN"
        ds.PatientPosition = "FFS"
        ds.FrameOfReferenceUID = frame_uid
        ds.PositionReferenceIndicator = ""
        ds.Manufacturer = MANUFACTURER
        ds.ManufacturerModelName = "simulation"
        ds.ImageType = ["ORIGINAL", "PRIMARY", "AXIAL"]
        ds.InstanceNumber = index + 1
        ds.AcquisitionNumber = 1
        ds.BurnedInAnnotation = "NO"
        z = first_position[2] + index * step
        ds.ImagePositionPatient = [_ds(first_position[0]), _ds(first_position[1]), _ds(z)]
        ds.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
        ds.SliceLocation = _ds(z)
        ds.PixelSpacing = [_ds(row_mm), _ds(col_mm)]
        ds.SliceThickness = _ds(slice_thickness)
        ds.SpacingBetweenSlices = _ds(step)
        ds.KVP = _ds(kvp)
        if exposure_mas is not None:
            ds.Exposure = int(round(exposure_mas))
            ds.ExposureInmAs = _ds(exposure_mas)
        if ctdivol is not None:
            ds.CTDIvol = _ds(ctdivol)
        ds.ConvolutionKernel = convolution_kernel
        ds.WindowCenter, ds.WindowWidth = _ds(window[0]), _ds(window[1])
        ds.RescaleType = "HU"
        set_pixels(ds, image, intercept=-1024.0, slope=1.0, signed=False)
        paths.append(save(ds, out / f"{filename_prefix}{index + 1:04d}.dcm"))
    return paths


def _set_patient_and_study(
    ds: Dataset, name: str, pid: str, study_uid: str, description: str, when: dt.datetime
) -> None:
    ds.PatientName = name
    ds.PatientID = pid
    ds.PatientBirthDate = ""
    ds.PatientSex = ""
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = when.strftime("%Y%m%d")
    ds.StudyTime = when.strftime("%H%M%S")
    ds.StudyDescription = description[:64]
    ds.StudyID = "1"
    ds.AccessionNumber = ""
    ds.ReferringPhysicianName = ""


def set_pixels(ds: Dataset, image: np.ndarray, *, intercept: float, slope: float, signed: bool):
    """Store HU ``image`` as 16-bit MONOCHROME2 pixels under the given rescale."""
    dtype, (low, high) = (np.int16, (-32768, 32767)) if signed else (np.uint16, (0, 65535))
    stored = np.clip(np.rint((np.asarray(image, np.float64) - intercept) / slope), low, high)
    stored = np.ascontiguousarray(stored.astype(dtype))
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.Rows, ds.Columns = stored.shape
    ds.BitsAllocated = 16
    ds.BitsStored = 16
    ds.HighBit = 15
    ds.PixelRepresentation = 1 if signed else 0
    ds.RescaleIntercept = _ds_number(intercept)
    ds.RescaleSlope = _ds_number(slope)
    ds.PixelData = stored.tobytes()


def _ds(value: float) -> DSfloat:
    """A decimal string that always fits the 16-character DS limit."""
    return DSfloat(float(value), auto_format=True)


def _ds_number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.10g}"


def new_file_meta(ds: Dataset) -> FileMetaDataset:
    """File meta for ``ds`` written uncompressed (explicit VR little endian) by this package."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def save(ds: Dataset, path: Path) -> Path:
    """Write ``ds`` as a DICOM Part 10 file (file meta added when missing); returns ``path``."""
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta = new_file_meta(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def as_volume(volume_hu: np.ndarray) -> np.ndarray:
    """``volume_hu`` as finite float32 (slices, rows, cols); one 2D slice becomes a stack."""
    volume = np.asarray(volume_hu, dtype=np.float32)
    if volume.ndim == 2:
        volume = volume[None]
    if volume.ndim != 3 or volume.shape[0] == 0:
        raise ValueError(f"expected (slices, rows, cols) or (rows, cols), got {volume.shape}")
    if not np.isfinite(volume).all():
        raise ValueError("volume contains NaN or infinite values")
    return volume


def _pair(value: tuple[float, float] | float) -> tuple[float, float]:
    if isinstance(value, int | float):
        return float(value), float(value)
    row, col = value
    return float(row), float(col)
