"""The denoised twin of a source series, as DICOM says a derived image must be.

New series and instance UIDs (deterministic, so a re-run of the same model on the same series
gives the same UIDs and no duplicates), ImageType DERIVED\\SECONDARY\\AXIAL, derivation
description and code, references to every source image, and everything else that identifies
the patient, study and geometry kept.
"""

from __future__ import annotations

import copy
import datetime as dt
import os
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.uid import CTImageStorage, generate_uid

from denoiser.dicom.read import MULTIFRAME_TAGS, STALE_PIXEL_TAGS, describe
from denoiser.dicom.write import MANUFACTURER, as_volume, new_file_meta, save, set_pixels

DERIVED_SERIES_NUMBER_OFFSET = 1000


def derived_datasets(
    source_datasets: Sequence[Dataset],
    denoised_hu: np.ndarray,
    *,
    model_name: str,
    model_version: str,
    series_description: str | None = None,
    series_number_offset: int = DERIVED_SERIES_NUMBER_OFFSET,
    created: dt.datetime | None = None,
    out_of_range: bool = False,
) -> list[Dataset]:
    """In-memory derived CT datasets (with file meta), one per source slice, same order.

    ``source_datasets`` are the headers from ``read_series`` (pixel data not needed) and
    ``denoised_hu`` the (slices, rows, cols) result for them. UIDs come from
    ``generate_uid(entropy_srcs=[source uid, model_name, model_version])``: the same source and
    model always give the same UIDs, different models never collide. Pixels are written
    uncompressed with a rescale chosen so the whole HU range fits without clipping (the source's
    own rescale when it fits, else a new intercept, else a slope > 1).
    """
    volume = as_volume(denoised_hu)
    if len(source_datasets) != len(volume):
        raise ValueError(f"{len(source_datasets)} source slices but {len(volume)} denoised slices")
    for header, image in zip(source_datasets, volume, strict=True):
        if (int(header.Rows), int(header.Columns)) != image.shape:
            raise ValueError(
                f"{describe(header)}: source is {header.Rows}x{header.Columns}, "
                f"denoised slice is {image.shape[0]}x{image.shape[1]}"
            )
    source_series = str(source_datasets[0].SeriesInstanceUID)
    series_uid = generate_uid(
        entropy_srcs=[source_series, model_name, model_version, "derived-series"]
    )
    description = series_description or _derived_description(
        source_datasets[0], model_name, model_version, out_of_range
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
    out_of_range: bool = False,
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
        out_of_range=out_of_range,
    )
    return [save(ds, out / f"{ds.SOPInstanceUID}.dcm") for ds in datasets]


def _derived_description(
    source: Dataset, model_name: str, model_version: str, out_of_range: bool = False
) -> str:
    """ "<source> [denoised <model> <version>]", with "OUT OF TRAINING RANGE" when the
    model's guard warned (denoiser.guard), so the warning travels with the images."""
    base = str(source.get("SeriesDescription", "") or "CT")
    flag = " OUT OF TRAINING RANGE" if out_of_range else ""
    suffix = f" [denoised {model_name} {model_version}{flag}]"
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
        if element.tag.is_private or element.keyword in STALE_PIXEL_TAGS + MULTIFRAME_TAGS:
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
    set_pixels(ds, image, intercept=intercept, slope=slope, signed=signed)
    ds.file_meta = new_file_meta(ds)
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
