"""One file at a time: is it a CT image we can read, decode and de-identify?

Each refusal is a sentence a person can act on: it names the file, the
attribute and the reason ("scan_042.dcm: modality MR, only CT is accepted").
"""

from __future__ import annotations

import io
import warnings
from dataclasses import dataclass, field

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.errors import InvalidDicomError
from pydicom.pixels.decoders.base import DecodeRunner
from pydicom.uid import UID

from denoiser.dicom.standard import (
    CT_SOP_CLASSES,
    NestingTooDeep,
    check_nesting,
)
from reader_study.ingest.elements import check_decodable
from reader_study.ingest.limits import Limits
from reader_study.ingest.report import SourceFile

# STOW-RS failure reasons (PS3.18 table 10.5.3-3) for what the checks refuse.
CANNOT_UNDERSTAND = 0xC000
SOP_CLASS_NOT_SUPPORTED = 0x0122
TRANSFER_SYNTAX_NOT_SUPPORTED = 0xC122


class Rejected(Exception):
    """This file cannot be ingested; the message is the reason (without the file name)."""

    def __init__(self, message: str, code: int = CANNOT_UNDERSTAND):
        super().__init__(message)
        self.code = code


@dataclass
class Checked:
    """What ingest needs to know about an accepted file, without keeping its pixels."""

    source: SourceFile
    sop_instance_uid: str
    sop_class_uid: str
    series_instance_uid: str
    study_instance_uid: str
    transfer_syntax_uid: str
    rows: int
    columns: int
    number_of_frames: int
    instance_number: int | None
    orientation: tuple[float, ...] | None
    # One position per frame (mm, patient coordinates); empty when the headers have none.
    positions: list[tuple[float, float, float]] = field(default_factory=list)
    series_description: str = ""
    # The parsed file, kept (within a memory budget) so de-identification need not read it
    # again; None means "read it from source.path".
    dataset: Dataset | None = field(default=None, repr=False)


def check(source: SourceFile, limits: Limits, keep_dataset: bool = False) -> Checked:
    """The facts of an acceptable CT file, or `Rejected` with the reason."""
    if source.size == 0:
        raise Rejected("empty file (0 bytes)")
    ds = _read(source)
    _check_kind(ds, limits)
    _check_pixels(ds)
    checked = _facts(source, ds)
    if keep_dataset:
        ds._pixel_array = None  # the decoded copy was only a test; keep the stored bytes
        ds._pixel_id = {}
        checked.dataset = ds
    return checked


def _read(source: SourceFile) -> Dataset:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            raw = io.BytesIO(source.data) if source.data is not None else source.path
            ds = pydicom.dcmread(raw, force=False)
            # Before anything walks or writes it: nesting deep enough to exhaust a writer's
            # recursion makes pydicom format ever longer tracebacks until memory runs out.
            check_nesting(ds)
            # Values are decoded lazily: find a damaged one now, without decoding them
            # (undecoded, they are written back as they were read).
            check_decodable(ds)
    except NestingTooDeep as exc:
        raise Rejected(str(exc)) from None
    except RecursionError:
        raise Rejected("sequences nested too deep to read") from None
    except InvalidDicomError:
        raise Rejected(
            "not a DICOM file (no 'DICM' marker at byte 128; only DICOM Part 10 files are read)"
        ) from None
    except Exception as exc:  # pydicom fails on damaged files in many ways
        raise Rejected(f"unreadable or truncated DICOM ({type(exc).__name__}: {exc})") from None
    return ds


def _check_kind(ds: Dataset, limits: Limits) -> None:
    modality = str(ds.get("Modality", "") or "")
    if modality != "CT":
        shown = f"modality {modality}" if modality else "no Modality attribute"
        raise Rejected(f"{shown}, only CT is accepted", SOP_CLASS_NOT_SUPPORTED)
    sop_class = str(ds.get("SOPClassUID", "") or "")
    if sop_class not in CT_SOP_CLASSES:
        raise Rejected(
            f"SOP class {_name(sop_class)} is not a CT image (accepted: CT Image Storage, "
            "Enhanced CT Image Storage, Legacy Converted Enhanced CT Image Storage)",
            SOP_CLASS_NOT_SUPPORTED,
        )
    syntax = str(ds.file_meta.get("TransferSyntaxUID", "") or "")
    if syntax not in limits.transfer_syntaxes:
        raise Rejected(
            f"transfer syntax {_name(syntax)} is not accepted by this server "
            "(LDCT_ACCEPTED_TRANSFER_SYNTAXES); export the series uncompressed or as JPEG 2000",
            TRANSFER_SYNTAX_NOT_SUPPORTED,
        )
    for keyword in ("SOPInstanceUID", "SeriesInstanceUID", "StudyInstanceUID", "Rows", "Columns"):
        if not ds.get(keyword):
            raise Rejected(f"required attribute {keyword} is missing or empty")
    if str(ds.get("BurnedInAnnotation", "") or "").upper() == "YES":
        raise Rejected("BurnedInAnnotation is YES: the pixels may show who the patient is")


def _check_pixels(ds: Dataset) -> None:
    if "PixelData" not in ds:
        raise Rejected("no pixel data (PixelData is missing)")
    if int(ds.get("SamplesPerPixel", 1) or 1) != 1:
        raise Rejected(f"{ds.SamplesPerPixel} samples per pixel; CT images are grayscale")
    photometric = ds.get("PhotometricInterpretation")
    if photometric not in (None, "MONOCHROME2"):
        raise Rejected(f"PhotometricInterpretation {photometric}; CT images are MONOCHROME2")
    units = _rescale_types(ds)
    if units - {"", "HU", "US"}:  # "US" (unspecified) is common on ordinary CT values
        raise Rejected(
            f"RescaleType {', '.join(sorted(units - {'', 'HU', 'US'}))}: a map in units other "
            "than Hounsfield units (HU) cannot be denoised"
        )
    syntax = ds.file_meta.TransferSyntaxUID
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            if not syntax.is_compressed:
                # Native pixels need no decoding, only the checks decoding starts with
                # (attributes, and as many bytes as they describe): the array pydicom
                # would make is that buffer, reinterpreted (a third of a check's time).
                runner = DecodeRunner(syntax)
                runner.set_source(ds)
                runner.validate()
                return
            pixels = ds.pixel_array
    except Exception as exc:
        raise Rejected(
            f"cannot decode pixel data (transfer syntax {_name(syntax)}): {type(exc).__name__}: "
            f"{exc}"
        ) from None
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    expected = (int(ds.Rows), int(ds.Columns))
    if pixels.shape[-2:] != expected or (frames > 1 and pixels.shape[0] != frames):
        raise Rejected(f"pixel data is {pixels.shape}, the header says {frames} x {expected}")
    if not np.issubdtype(pixels.dtype, np.integer):
        raise Rejected(f"pixel data of type {pixels.dtype}; CT stores whole numbers")


def _rescale_types(ds: Dataset) -> set[str]:
    """RescaleType at the top level and in enhanced CT's functional groups. Only these are
    read: reading an element decodes it, and untouched elements must keep their bytes."""
    found = [ds.get("RescaleType")]
    for groups in ("SharedFunctionalGroupsSequence", "PerFrameFunctionalGroupsSequence"):
        for group in ds.get(groups) or []:
            for transform in group.get("PixelValueTransformationSequence") or []:
                found.append(transform.get("RescaleType"))
    return {str(value).strip().upper() for value in found if value}


def _facts(source: SourceFile, ds: Dataset) -> Checked:
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    orientation, positions = _geometry(ds, frames)
    number = ds.get("InstanceNumber")
    return Checked(
        source=source,
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        series_instance_uid=str(ds.SeriesInstanceUID),
        study_instance_uid=str(ds.StudyInstanceUID),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        rows=int(ds.Rows),
        columns=int(ds.Columns),
        number_of_frames=frames,
        instance_number=int(number) if number not in (None, "") else None,
        orientation=orientation,
        positions=positions,
        series_description=str(ds.get("SeriesDescription", "") or ""),
    )


def _geometry(ds: Dataset, frames: int):
    """(orientation, one position per frame); classic headers or enhanced functional groups."""
    if "PerFrameFunctionalGroupsSequence" not in ds:
        return _orientation(ds), _positions([ds])
    shared = ds.get("SharedFunctionalGroupsSequence") or [Dataset()]
    per_frame = ds.PerFrameFunctionalGroupsSequence
    orientation = None
    for group in (shared[0], per_frame[0] if per_frame else Dataset()):
        plane = group.get("PlaneOrientationSequence")
        if plane:
            orientation = _orientation(plane[0]) or orientation
    position_items = []
    for group in list(per_frame)[:frames]:
        plane = group.get("PlanePositionSequence") or shared[0].get("PlanePositionSequence")
        position_items.append(plane[0] if plane else Dataset())
    positions = _positions(position_items)
    return orientation, positions if len(positions) == frames else []


def _orientation(ds: Dataset) -> tuple[float, ...] | None:
    value = ds.get("ImageOrientationPatient")
    if value is None or len(value) != 6:
        return None
    try:
        return tuple(float(v) for v in value)
    except (TypeError, ValueError):
        return None


def _positions(items: list[Dataset]) -> list[tuple[float, float, float]]:
    out = []
    for item in items:
        value = item.get("ImagePositionPatient")
        if value is None or len(value) != 3:
            return []
        try:
            out.append(tuple(float(v) for v in value))
        except (TypeError, ValueError):
            return []
    return out


def _name(uid: str) -> str:
    if not uid:
        return "(none)"
    name = UID(uid).name
    return f"{uid} ({name})" if name and name != uid else uid
