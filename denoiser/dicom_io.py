"""DICOM CT series <-> Hounsfield-unit volumes (pydicom), including derived (denoised) series.

Three jobs:

* ``read_series``: a folder, file list or datasets of one CT series -> float32 HU volume
  (slices, rows, cols) sorted along the slice normal, with per-slice headers. Classic single-frame
  CT and enhanced multi-frame CT both work; compressed transfer syntaxes decode through the
  pylibjpeg plugins that pydicom picks up by itself.
* ``write_series``: a HU volume -> a new, valid CT Image Storage series (demo cases, tests).
* ``derived_datasets`` / ``write_derived_series``: the denoised twin of a source series, as
  DICOM says a derived image must be: new series and instance UIDs (deterministic, so a re-run
  of the same model on the same series gives the same UIDs and no duplicates), ImageType
  DERIVED\\SECONDARY\\AXIAL, derivation description and code, references to every source image,
  and everything else that identifies the patient, study and geometry kept.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import (
    PYDICOM_IMPLEMENTATION_UID,
    CTImageStorage,
    ExplicitVRLittleEndian,
    generate_uid,
)
from pydicom.valuerep import DSfloat

SourceLike = str | os.PathLike | BinaryIO | Dataset
ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"
IMPLEMENTATION_VERSION = "LDCT_STUDIO_1"
DERIVED_SERIES_NUMBER_OFFSET = 1000
MANUFACTURER = "LDCT Reader Studio"

# Tags whose value describes the source pixel encoding or a lookup that no longer holds for the
# re-encoded denoised pixels; kept values would mislead a viewer.
_STALE_PIXEL_TAGS = (
    "PixelData",
    "FloatPixelData",
    "DoubleFloatPixelData",
    "PixelPaddingValue",
    "PixelPaddingRangeLimit",
    "SmallestImagePixelValue",
    "LargestImagePixelValue",
    "SmallestPixelValueInSeries",
    "LargestPixelValueInSeries",
    "ModalityLUTSequence",
    "VOILUTSequence",
    "IconImageSequence",
    "DataSetTrailingPadding",
    "PixelDataProviderURL",
    "NumberOfFrames",
    "FrameIncrementPointer",
)
# Enhanced multi-frame structure that a per-frame classic header must not carry: the
# functional-group sequences, and what flattening their macros brings up that only an
# enhanced image defines (the derived image is a classic CT Image).
_MULTIFRAME_TAGS = (
    "SharedFunctionalGroupsSequence",
    "PerFrameFunctionalGroupsSequence",
    "DimensionIndexSequence",
    "DimensionOrganizationSequence",
    "FrameType",
    "DimensionIndexValues",
    "StackID",
    "InStackPositionNumber",
    "TemporalPositionIndex",
    "FrameAcquisitionNumber",
    "FrameAcquisitionDateTime",
    "FrameReferenceDateTime",
    "FrameAcquisitionDuration",
    "FrameLabel",
    "PixelPresentation",
    "VolumetricProperties",
    "VolumeBasedCalculationTechnique",
    "LUTLabel",
    "RealWorldValueFirstValueMapped",
    "RealWorldValueLastValueMapped",
    "RealWorldValueIntercept",
    "RealWorldValueSlope",
    "MeasurementUnitsCodeSequence",
)
# What the denoiser reads: CT images in Hounsfield units (classic, enhanced, legacy converted).
CT_SOP_CLASSES = {
    CTImageStorage,
    "1.2.840.10008.5.1.4.1.1.2.1",  # Enhanced CT Image Storage
    "1.2.840.10008.5.1.4.1.1.2.2",  # Legacy Converted Enhanced CT Image Storage
}


class DicomReadError(ValueError):
    """A file or series that cannot be read as a CT volume; the message names file and reason."""


# --- reading ----------------------------------------------------------------------------------


def read_series(
    source: SourceLike | Iterable[SourceLike],
    *,
    exclude: str | os.PathLike | None = None,
) -> tuple[np.ndarray, list[Dataset]]:
    """Read one CT series into a float32 HU volume (slices, rows, cols) and sorted headers.

    ``source`` is a folder (searched recursively; non-DICOM files and DICOMDIR are skipped), a
    single file, or an iterable of paths, binary file objects or already-read datasets.
    Headers of files read here come back without PixelData (the volume holds the pixels, so a
    large series is not kept in memory three times); datasets passed in are left untouched.
    Pixel values go through RescaleSlope/RescaleIntercept. Slices are sorted by position along
    the slice normal (ImagePositionPatient . (row x column direction)), falling back to
    InstanceNumber when geometry is missing. An enhanced multi-frame CT is split into one
    classic-style header per frame; those headers carry ``frame_number`` (1-based) as a plain
    Python attribute so derived images can reference the source frame.

    A file that holds an instance already read (the same SOPInstanceUID) is read once.
    ``exclude``: a folder inside ``source`` not to scan (where the derived series goes).

    Raises ``DicomReadError`` naming the file and the reason for an image that is not a CT in
    Hounsfield units (another modality, colour, MONOCHROME1, a RescaleType other than HU),
    one without its UIDs, undecodable pixel data, mixed series or mismatched slice sizes, and
    when no image is found.
    """
    items, from_folder = _expand(source, exclude)
    slices: list[tuple[Dataset, np.ndarray]] = []
    seen: set[str] = set()
    for item in items:
        ds = _as_dataset(item, skip_non_dicom=from_folder)
        if ds is None or "PixelData" not in ds:
            continue  # e.g. a structured report or presentation state beside the images
        _check_readable_ct(ds)
        if str(ds.SOPInstanceUID) in seen:
            continue  # the same instance twice (a copy in a subfolder): read once
        seen.add(str(ds.SOPInstanceUID))
        slices.extend(_frames(ds))
        if not isinstance(item, Dataset) and "PixelData" in ds:
            del ds.PixelData  # our own copy: free the encoded and decoded pixels, keep the header
    if not slices:
        raise DicomReadError(f"{_describe(source)}: no DICOM image with pixel data found")
    _check_one_series(slices)
    slices.sort(key=_sort_key(slices))
    volume = np.stack([hu for _, hu in slices]).astype(np.float32)
    return volume, [header for header, _ in slices]


@dataclass
class SeriesFiles:
    """The files of one series found in a folder (headers read, pixels not)."""

    uid: str
    modality: str
    number: int | None
    description: str
    localizer: bool  # a scout/topogram: not an axial image the denoiser was made for
    has_images: bool
    files: list[SourceLike] = field(default_factory=list)

    @property
    def skip_reason(self) -> str:
        """Why this series is not denoised unless asked for ("" when it is)."""
        if self.modality != "CT":
            return f"modality {self.modality or 'not given'}, not CT"
        if not self.has_images:
            return "no pixel data"
        return "a localizer (scout)" if self.localizer else ""

    def folder_name(self) -> str:
        """A readable folder name: series number and description, then the UID's tail."""
        text = f"{self.number if self.number is not None else 'x'}_{self.description}"
        safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in text).strip("_.")
        return f"{safe[:48]}_{self.uid[-8:]}"

    def __str__(self) -> str:
        label = f"series {self.number if self.number is not None else '?'}"
        return f"{label} {self.description!r} ({len(self.files)} files, UID {self.uid or 'none'})"


def find_series(
    source: str | os.PathLike, *, exclude: str | os.PathLike | None = None
) -> list[SeriesFiles]:
    """The series in a folder (or one file), by SeriesInstanceUID, in series-number order.

    Only headers are read (not pixel data), so a whole study export is sorted quickly;
    non-DICOM files and DICOMDIR are skipped, as in ``read_series``.
    """
    items, from_folder = _expand(source, exclude)
    found: dict[str, SeriesFiles] = {}
    for item in items:
        ds = _as_dataset(item, skip_non_dicom=from_folder, headers_only=True)
        if ds is None or _sop_class(ds) == MEDIA_STORAGE_DIRECTORY:
            continue  # a DICOMDIR under another name
        uid = str(ds.get("SeriesInstanceUID", "") or "")
        if uid not in found:
            found[uid] = SeriesFiles(
                uid=uid,
                modality=str(ds.get("Modality", "") or ""),
                number=_series_number(ds),
                description=str(ds.get("SeriesDescription", "") or ""),
                localizer="LOCALIZER" in [str(v).upper() for v in _values(ds, "ImageType")],
                has_images=False,
            )
        group = found[uid]
        group.files.append(item)
        group.has_images |= _is_image(ds)
    if not found:
        raise DicomReadError(f"{_describe(source)}: no DICOM file found")
    return sorted(found.values(), key=lambda g: (g.number is None, g.number or 0, g.uid))


def _series_number(ds: Dataset) -> int | None:
    """SeriesNumber as an int, or None when absent or malformed (e.g. two values)."""
    try:
        return int(ds.get("SeriesNumber"))
    except (TypeError, ValueError):
        return None


def _sop_class(ds: Dataset) -> str:
    meta = getattr(ds, "file_meta", None) or Dataset()
    return str(ds.get("SOPClassUID") or meta.get("MediaStorageSOPClassUID") or "")


def _values(ds: Dataset, keyword: str) -> list:
    value = ds.get(keyword)
    if value is None:
        return []
    return list(value) if isinstance(value, MultiValue | list) else [value]


def _is_image(ds: Dataset) -> bool:
    return "PixelData" in ds


def _expand(
    source: SourceLike | Iterable[SourceLike], exclude: str | os.PathLike | None = None
) -> tuple[list[SourceLike], bool]:
    """The items to read, and whether they came from scanning a folder."""
    if isinstance(source, Dataset) or hasattr(source, "read"):
        return [source], False  # type: ignore[list-item]
    if isinstance(source, str | os.PathLike):
        path = Path(source)
        if path.is_dir():
            skip = Path(exclude).resolve() if exclude is not None else None
            files = sorted(
                p
                for p in path.rglob("*")
                if p.is_file()
                and p.name != "DICOMDIR"
                and (skip is None or skip not in p.resolve().parents)
            )
            return files, True  # type: ignore[return-value]
        if not path.exists():
            raise DicomReadError(f"{path}: no such file or folder")
        return [path], False
    return list(source), False  # type: ignore[arg-type]


def _as_dataset(
    item: SourceLike, *, skip_non_dicom: bool = False, headers_only: bool = False
) -> Dataset | None:
    """Read one item; a non-DICOM file met while scanning a folder is skipped (None).

    A file without the 128-byte preamble and "DICM" (written by some older systems) is read
    too when it starts like a DICOM data set: a group 0002 or 0008 element.
    """
    if isinstance(item, Dataset):
        return item
    name = _describe(item)
    forced = _starts_with_a_data_set(item)
    try:
        # Headers only: pixel data stays on disk (deferred), but its presence is known.
        ds = pydicom.dcmread(item, force=forced, defer_size=1024 if headers_only else None)
        if forced and not (ds.get("SOPClassUID") or ds.get("SOPInstanceUID")):
            # Two bytes that look like a group number are not enough to call a file DICOM.
            raise InvalidDicomError("no preamble, and no SOP class or instance UID")
        return ds
    except InvalidDicomError as exc:
        if skip_non_dicom:
            return None
        raise DicomReadError(f"{name}: not a DICOM file ({exc})") from exc
    except Exception as exc:  # truncated or corrupt files fail in many ways inside pydicom
        raise DicomReadError(f"{name}: unreadable DICOM ({type(exc).__name__}: {exc})") from exc


def _starts_with_a_data_set(item: SourceLike) -> bool:
    """True for a file with no preamble whose first element is in group 0002 or 0008."""
    try:
        if hasattr(item, "read"):
            start = item.tell()  # type: ignore[union-attr]
            head = item.read(132)  # type: ignore[union-attr]
            item.seek(start)  # type: ignore[union-attr]
        else:
            with open(item, "rb") as f:  # type: ignore[arg-type]
                head = f.read(132)
    except (OSError, AttributeError, ValueError):
        return False
    return head[128:132] != b"DICM" and head[:2] in (b"\x02\x00", b"\x08\x00")


def _check_readable_ct(ds: Dataset) -> None:
    """DicomReadError unless ``ds`` is a grayscale CT image in HU with its UIDs."""
    name = _describe(ds)
    modality, sop_class = ds.get("Modality"), str(ds.get("SOPClassUID", ""))
    # The SOP class says what the pixels are (a secondary capture may say Modality CT).
    if (sop_class not in CT_SOP_CLASSES) if sop_class else modality != "CT":
        kind = getattr(pydicom.uid.UID(sop_class), "name", sop_class) if sop_class else "none"
        raise DicomReadError(
            f"{name}: modality {modality or 'not given'} (SOP class {kind}): "
            "the denoiser reads CT images only"
        )
    samples, photometric = (
        int(ds.get("SamplesPerPixel", 1) or 1),
        ds.get("PhotometricInterpretation"),
    )
    if samples != 1 or photometric not in (None, "MONOCHROME2"):
        raise DicomReadError(
            f"{name}: PhotometricInterpretation {photometric} with {samples} sample(s) per "
            "pixel: the denoiser reads grayscale MONOCHROME2 CT (higher value, denser tissue)"
        )
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID"):
        if not ds.get(keyword):
            raise DicomReadError(
                f"{name}: no {keyword} (a required element): the derived series must reference it"
            )
    _check_hounsfield(ds, name)


def _check_hounsfield(header: Dataset, name: str) -> None:
    """A map in other units stored as CT (an iodine map in mg/ml, electron density...) is
    refused. "US" (unspecified) passes: scanners write it on ordinary CT values too."""
    rescale_type = str(header.get("RescaleType", "") or "").strip().upper()
    if rescale_type not in ("", "HU", "US"):
        raise DicomReadError(
            f"{name}: RescaleType {rescale_type}: the denoiser reads Hounsfield units (HU) only"
        )


def _describe(item: object) -> str:
    if isinstance(item, Dataset):  # the file it came from where known: what a user can find
        filename = getattr(item, "filename", None)
        if isinstance(filename, str | os.PathLike) and str(filename):
            return str(filename)
        return str(item.get("SOPInstanceUID", "<dataset>"))
    if hasattr(item, "name"):
        return str(item.name)  # type: ignore[union-attr]
    return str(item)


def _pixels(ds: Dataset) -> np.ndarray:
    if "PixelData" not in ds:
        raise DicomReadError(f"{_describe(ds)}: no pixel data")
    try:
        return ds.pixel_array
    except Exception as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown") if "file_meta" in ds else "?"
        raise DicomReadError(
            f"{_describe(ds)}: cannot decode pixel data (transfer syntax {syntax}): {exc}"
        ) from exc


def _frames(ds: Dataset) -> list[tuple[Dataset, np.ndarray]]:
    """(header, HU image) for each frame: one for classic CT, many for enhanced multi-frame."""
    pixels = _pixels(ds)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames == 1 and "PerFrameFunctionalGroupsSequence" not in ds:
        if pixels.ndim != 2:
            raise DicomReadError(f"{_describe(ds)}: expected a grayscale image, got {pixels.shape}")
        return [(ds, _rescale(pixels, ds))]
    pixels = pixels.reshape(n_frames, *pixels.shape[-2:])
    out = []
    for index in range(n_frames):
        header = _frame_header(ds, index)
        _check_hounsfield(header, f"{_describe(ds)} frame {index + 1}")
        out.append((header, _rescale(pixels[index], header)))
    return out


def _frame_header(ds: Dataset, index: int) -> Dataset:
    """Classic-style header of one enhanced-CT frame: functional groups flattened into it."""
    header = Dataset()
    for element in ds:
        if element.keyword not in _MULTIFRAME_TAGS and element.keyword not in _STALE_PIXEL_TAGS:
            header.add(copy.deepcopy(element))
    if hasattr(ds, "file_meta"):
        header.file_meta = copy.deepcopy(ds.file_meta)
    groups = []
    if "SharedFunctionalGroupsSequence" in ds:
        groups.append(ds.SharedFunctionalGroupsSequence[0])
    if "PerFrameFunctionalGroupsSequence" in ds:
        groups.append(ds.PerFrameFunctionalGroupsSequence[index])
    for group in groups:  # per-frame values come last and win
        for macro in group:
            if macro.VR != "SQ" or not macro.value:
                continue
            for element in macro.value[0]:
                if element.VR != "SQ":
                    header.add(copy.deepcopy(element))
    header.InstanceNumber = index + 1
    header.frame_number = index + 1  # plain attribute, not a DICOM element
    return header


def _rescale(pixels: np.ndarray, ds: Dataset) -> np.ndarray:
    slope = float(ds.get("RescaleSlope", 1.0) or 1.0)
    intercept = float(ds.get("RescaleIntercept", 0.0) or 0.0)
    return pixels.astype(np.float32) * np.float32(slope) + np.float32(intercept)


def _check_one_series(slices: list[tuple[Dataset, np.ndarray]]) -> None:
    first, first_hu = slices[0]
    series_uid = first.get("SeriesInstanceUID")
    for header, hu in slices[1:]:
        if header.get("SeriesInstanceUID") != series_uid:
            raise DicomReadError(
                f"{_describe(header)}: belongs to series {header.get('SeriesInstanceUID')}, "
                f"not {series_uid}: one series at a time"
            )
        if hu.shape != first_hu.shape:
            raise DicomReadError(
                f"{_describe(header)}: slice size {hu.shape} differs from {first_hu.shape}"
            )


def slice_normal(ds: Dataset) -> np.ndarray | None:
    """Unit normal of the image plane (row direction x column direction), or None."""
    iop = ds.get("ImageOrientationPatient")
    if iop is None or len(iop) != 6:
        return None
    row, col = np.array(iop[:3], dtype=float), np.array(iop[3:], dtype=float)
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else None


def _sort_key(slices: list[tuple[Dataset, np.ndarray]]):
    headers = [h for h, _ in slices]
    normal = slice_normal(headers[0])
    have_geometry = normal is not None and all("ImagePositionPatient" in h for h in headers)
    if have_geometry:

        def by_position(item: tuple[Dataset, np.ndarray]) -> tuple[float, int]:
            header = item[0]
            position = np.array(header.ImagePositionPatient, dtype=float)
            return float(position @ normal), int(header.get("InstanceNumber", 0) or 0)

        return by_position
    return lambda item: int(item[0].get("InstanceNumber", 0) or 0)


# --- writing a new series ---------------------------------------------------------------------


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
    volume = _as_volume(volume_hu)
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
        _set_pixels(ds, image, intercept=-1024.0, slope=1.0, signed=False)
        paths.append(_save(ds, out / f"{filename_prefix}{index + 1:04d}.dcm"))
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


# --- derived (denoised) series -----------------------------------------------------------------


def derived_datasets(
    source_datasets: Sequence[Dataset],
    denoised_hu: np.ndarray,
    *,
    model_name: str,
    model_version: str,
    series_description: str | None = None,
    series_number_offset: int = DERIVED_SERIES_NUMBER_OFFSET,
    created: dt.datetime | None = None,
) -> list[Dataset]:
    """In-memory derived CT datasets (with file meta), one per source slice, same order.

    ``source_datasets`` are the headers from ``read_series`` (pixel data not needed) and
    ``denoised_hu`` the (slices, rows, cols) result for them. UIDs come from
    ``generate_uid(entropy_srcs=[source uid, model_name, model_version])``: the same source and
    model always give the same UIDs, different models never collide. Pixels are written
    uncompressed with a rescale chosen so the whole HU range fits without clipping (the source's
    own rescale when it fits, else a new intercept, else a slope > 1).
    """
    volume = _as_volume(denoised_hu)
    if len(source_datasets) != len(volume):
        raise ValueError(f"{len(source_datasets)} source slices but {len(volume)} denoised slices")
    for header, image in zip(source_datasets, volume, strict=True):
        if (int(header.Rows), int(header.Columns)) != image.shape:
            raise ValueError(
                f"{_describe(header)}: source is {header.Rows}x{header.Columns}, "
                f"denoised slice is {image.shape[0]}x{image.shape[1]}"
            )
    source_series = str(source_datasets[0].SeriesInstanceUID)
    series_uid = generate_uid(
        entropy_srcs=[source_series, model_name, model_version, "derived-series"]
    )
    description = series_description or _derived_description(
        source_datasets[0], model_name, model_version
    )
    when = created or dt.datetime.now(dt.UTC)
    intercept, slope, signed = _choose_rescale(volume, source_datasets[0])
    return [
        _derived_one(
            src,
            image,
            series_uid=series_uid,
            model_name=model_name,
            model_version=model_version,
            description=description,
            series_number_offset=series_number_offset,
            when=when,
            rescale=(intercept, slope, signed),
            index=index,
        )
        for index, (src, image) in enumerate(zip(source_datasets, volume, strict=True))
    ]


def write_derived_series(
    source_datasets: Sequence[Dataset],
    denoised_hu: np.ndarray,
    out_dir: str | os.PathLike,
    *,
    model_name: str,
    model_version: str,
    series_description: str | None = None,
    series_number_offset: int = DERIVED_SERIES_NUMBER_OFFSET,
) -> list[Path]:
    """Write ``derived_datasets(...)`` to ``out_dir`` as ``{SOPInstanceUID}.dcm`` files.

    File names come from the deterministic UIDs, so a re-run overwrites rather than duplicates.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    datasets = derived_datasets(
        source_datasets,
        denoised_hu,
        model_name=model_name,
        model_version=model_version,
        series_description=series_description,
        series_number_offset=series_number_offset,
    )
    return [_save(ds, out / f"{ds.SOPInstanceUID}.dcm") for ds in datasets]


def _derived_description(source: Dataset, model_name: str, model_version: str) -> str:
    base = str(source.get("SeriesDescription", "") or "CT")
    suffix = f" [denoised {model_name} {model_version}]"
    return (base[: max(0, 64 - len(suffix))] + suffix)[:64]


def _derived_one(
    src: Dataset,
    image: np.ndarray,
    *,
    series_uid: str,
    model_name: str,
    model_version: str,
    description: str,
    series_number_offset: int,
    when: dt.datetime,
    rescale: tuple[float, float, bool],
    index: int,
) -> Dataset:
    ds = Dataset()
    for element in src:
        if element.tag.is_private or element.keyword in _STALE_PIXEL_TAGS + _MULTIFRAME_TAGS:
            continue
        if element.tag.group == 0x0002:
            continue
        ds.add(copy.deepcopy(element))
    frame = getattr(src, "frame_number", None)
    source_sop = str(src.SOPInstanceUID)
    ds.SOPClassUID = CTImageStorage
    ds.SOPInstanceUID = generate_uid(
        entropy_srcs=[source_sop, str(frame or ""), model_name, model_version]
    )
    ds.SeriesInstanceUID = series_uid
    ds.SeriesNumber = int(src.get("SeriesNumber", 0) or 0) + series_number_offset
    ds.SeriesDescription = description
    ds.ImageType = ["DERIVED", "SECONDARY", "AXIAL"]
    ds.InstanceNumber = int(src.get("InstanceNumber", index + 1) or index + 1)
    ds.ContentDate = when.strftime("%Y%m%d")
    ds.ContentTime = when.strftime("%H%M%S")
    ds.DerivationDescription = (
        f"Denoised by {model_name} version {model_version} (LDCT Reader Studio); "
        "research use only, not for clinical diagnosis"
    )
    ds.DerivationCodeSequence = DicomSequence([_code("113087", "DCM", "Smoothing")])
    reference = Dataset()
    reference.ReferencedSOPClassUID = src.SOPClassUID
    reference.ReferencedSOPInstanceUID = source_sop
    if frame is not None:
        reference.ReferencedFrameNumber = frame
    purpose = copy.deepcopy(reference)
    purpose.PurposeOfReferenceCodeSequence = DicomSequence(
        [_code("121322", "DCM", "Source image for image processing operation")]
    )
    ds.SourceImageSequence = DicomSequence([purpose])
    referenced_series = Dataset()
    referenced_series.SeriesInstanceUID = src.SeriesInstanceUID
    referenced_series.ReferencedInstanceSequence = DicomSequence([reference])
    ds.ReferencedSeriesSequence = DicomSequence([referenced_series])
    ds.ContributingEquipmentSequence = DicomSequence([_contributing_equipment(model_name, when)])
    ds.RescaleType = "US" if src.get("RescaleType") == "US" else "HU"  # as the source
    intercept, slope, signed = rescale
    _set_pixels(ds, image, intercept=intercept, slope=slope, signed=signed)
    ds.file_meta = _file_meta(ds)
    return ds


def _contributing_equipment(model_name: str, when: dt.datetime) -> Dataset:
    item = Dataset()
    item.PurposeOfReferenceCodeSequence = DicomSequence(
        [_code("109103", "DCM", "Modifying Equipment")]
    )
    item.Manufacturer = MANUFACTURER
    item.ManufacturerModelName = model_name[:64]
    item.ContributionDateTime = when.strftime("%Y%m%d%H%M%S")
    item.ContributionDescription = "AI denoising"
    return item


def _code(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


# --- pixel encoding and files ----------------------------------------------------------------


def _choose_rescale(volume: np.ndarray, source: Dataset) -> tuple[float, float, bool]:
    """(intercept, slope, signed) that store every HU value of ``volume`` without clipping.

    The source's rescale is reused when it fits, so original and derived series share pixel
    encoding (it helps the blinded viewer serve identical headers).
    """
    lo, hi = float(np.floor(volume.min())), float(np.ceil(volume.max()))
    src_slope = float(source.get("RescaleSlope", 1.0) or 1.0)
    src_intercept = float(source.get("RescaleIntercept", 0.0) or 0.0)
    src_signed = int(source.get("PixelRepresentation", 0) or 0) == 1
    if src_slope == 1.0 and src_intercept == round(src_intercept):
        low, high = (-32768, 32767) if src_signed else (0, 65535)
        if low <= lo - src_intercept and hi - src_intercept <= high:
            return src_intercept, 1.0, src_signed
    if hi - lo <= 65535:
        return lo, 1.0, False
    slope = float(f"{(hi - lo) / 65535:.6g}") * 1.0001  # DS-exact, with headroom for rounding
    slope = float(f"{slope:.8g}")
    return lo, slope, False


def _set_pixels(ds: Dataset, image: np.ndarray, *, intercept: float, slope: float, signed: bool):
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


def _file_meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = ds.SOPClassUID
    meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = PYDICOM_IMPLEMENTATION_UID
    meta.ImplementationVersionName = IMPLEMENTATION_VERSION
    return meta


def _save(ds: Dataset, path: Path) -> Path:
    if not hasattr(ds, "file_meta") or "TransferSyntaxUID" not in ds.file_meta:
        ds.file_meta = _file_meta(ds)
    ds.save_as(path, enforce_file_format=True)
    return path


def _as_volume(volume_hu: np.ndarray) -> np.ndarray:
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
