"""Series facts for the case page: the acquisition at a glance, from the stored headers."""

from __future__ import annotations

from pydicom.dataset import Dataset


def _number(ds: Dataset, keyword: str) -> float | None:
    value = ds.get(keyword)
    if value in (None, ""):
        return None
    try:
        return round(float(value), 3)
    except (TypeError, ValueError):
        return None


def _shared(ds: Dataset, sequence: str, keyword: str) -> float | None:
    """A value from an enhanced CT's shared functional groups (e.g. CTXRayDetailsSequence)."""
    for group in ds.get("SharedFunctionalGroupsSequence") or []:
        for item in group.get(sequence) or []:
            found = _number(item, keyword)
            if found is not None:
                return found
    return None


def series_facts(first: Dataset, slice_positions: list[float | None], frames: int) -> dict:
    spacing = first.get("PixelSpacing")
    if spacing is None:
        for group in first.get("SharedFunctionalGroupsSequence") or []:
            for item in group.get("PixelMeasuresSequence") or []:
                spacing = item.get("PixelSpacing")
    known = [p for p in slice_positions if p is not None]
    steps = sorted(b - a for a, b in zip(known, known[1:], strict=False))
    facts = {
        "slices": frames,
        "pixel_spacing_mm": [round(float(v), 4) for v in spacing] if spacing else None,
        "slice_thickness_mm": _number(first, "SliceThickness")
        or _shared(first, "PixelMeasuresSequence", "SliceThickness"),
        "slice_spacing_mm": round(steps[len(steps) // 2], 3) if steps else None,
        "kvp": _number(first, "KVP") or _shared(first, "CTXRayDetailsSequence", "KVP"),
        "tube_current_ma": _number(first, "XRayTubeCurrent")
        or _shared(first, "CTExposureSequence", "XRayTubeCurrentInmA"),
        "exposure_mas": _number(first, "Exposure") or _number(first, "ExposureInmAs"),
        "ctdivol_mgy": _number(first, "CTDIvol") or _shared(first, "CTExposureSequence", "CTDIvol"),
        "kernel": str(first.get("ConvolutionKernel", "") or "") or None,
        "manufacturer": str(first.get("Manufacturer", "") or "") or None,
        "transfer_syntax": first.file_meta.TransferSyntaxUID.name,
    }
    return {key: value for key, value in facts.items() if value not in (None, "")}
