"""Reading CT series: a folder, file list or datasets -> float32 HU volume and sorted headers.

Classic single-frame CT and enhanced multi-frame CT both read; compressed transfer syntaxes
decode through the pylibjpeg plugins that pydicom picks up by itself. Every file read here
passes ``standard.check_nesting`` before anything walks or copies its sequences.
"""

from __future__ import annotations

import copy
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.multival import MultiValue

from denoiser.dicom.standard import CT_SOP_CLASSES, NestingTooDeep, check_nesting, slice_normal

SourceLike = str | os.PathLike | BinaryIO | Dataset
MEDIA_STORAGE_DIRECTORY = "1.2.840.10008.1.3.10"

# Tags whose value describes the source pixel encoding or a lookup that does not hold for
# re-encoded pixels (a denoised image, one frame of a multi-frame image); kept values would
# mislead a viewer.
STALE_PIXEL_TAGS = (
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
MULTIFRAME_TAGS = (
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


class DicomReadError(ValueError):
    """A file or series that cannot be read as a CT volume; the message names file and reason."""


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
        raise DicomReadError(f"{describe(source)}: no DICOM image with pixel data found")
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
        raise DicomReadError(f"{describe(source)}: no DICOM file found")
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
    too when it starts like a DICOM data set: a group 0002 or 0008 element. A file whose
    sequences nest deeper than real CT does is refused before anything walks or copies them.
    """
    if isinstance(item, Dataset):
        return item
    name = describe(item)
    forced = _starts_with_a_data_set(item)
    try:
        # Headers only: pixel data stays on disk (deferred), but its presence is known.
        ds = pydicom.dcmread(item, force=forced, defer_size=1024 if headers_only else None)
        if forced and not (ds.get("SOPClassUID") or ds.get("SOPInstanceUID")):
            # Two bytes that look like a group number are not enough to call a file DICOM.
            raise InvalidDicomError("no preamble, and no SOP class or instance UID")
        # Before anything recurses into it: deep nesting exhausts pydicom's recursion when
        # headers are copied or written.
        check_nesting(ds)
        return ds
    except NestingTooDeep as exc:
        raise DicomReadError(f"{name}: {exc}") from exc
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
    name = describe(ds)
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


def describe(item: object) -> str:
    """What a message calls a source: its file name where known, else its SOP instance UID."""
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
        raise DicomReadError(f"{describe(ds)}: no pixel data")
    try:
        return ds.pixel_array
    except Exception as exc:
        syntax = ds.file_meta.get("TransferSyntaxUID", "unknown") if "file_meta" in ds else "?"
        raise DicomReadError(
            f"{describe(ds)}: cannot decode pixel data (transfer syntax {syntax}): {exc}"
        ) from exc


def _frames(ds: Dataset) -> list[tuple[Dataset, np.ndarray]]:
    """(header, HU image) for each frame: one for classic CT, many for enhanced multi-frame."""
    pixels = _pixels(ds)
    n_frames = int(ds.get("NumberOfFrames", 1) or 1)
    if n_frames == 1 and "PerFrameFunctionalGroupsSequence" not in ds:
        if pixels.ndim != 2:
            raise DicomReadError(f"{describe(ds)}: expected a grayscale image, got {pixels.shape}")
        return [(ds, _rescale(pixels, ds))]
    pixels = pixels.reshape(n_frames, *pixels.shape[-2:])
    out = []
    for index in range(n_frames):
        header = _frame_header(ds, index)
        _check_hounsfield(header, f"{describe(ds)} frame {index + 1}")
        out.append((header, _rescale(pixels[index], header)))
    return out


def _frame_header(ds: Dataset, index: int) -> Dataset:
    """Classic-style header of one enhanced-CT frame: functional groups flattened into it."""
    header = Dataset()
    for element in ds:
        if element.keyword not in MULTIFRAME_TAGS and element.keyword not in STALE_PIXEL_TAGS:
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
                f"{describe(header)}: belongs to series {header.get('SeriesInstanceUID')}, "
                f"not {series_uid}: one series at a time"
            )
        if hu.shape != first_hu.shape:
            raise DicomReadError(
                f"{describe(header)}: slice size {hu.shape} differs from {first_hu.shape}"
            )


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
