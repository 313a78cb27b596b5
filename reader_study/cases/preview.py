"""The case page's preview: the middle slice at a soft-tissue window, as PNG."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
from PIL import Image

from reader_study.models import Instance, Series

SOFT_TISSUE = (40.0, 400.0)  # window centre, width in HU


def middle_instance(series: Series) -> tuple[Instance, int] | None:
    """The instance holding the middle slice and the frame index inside it."""
    instances = list(series.instances.order_by("slice_position", "instance_number", "pk"))
    if not instances:
        return None
    if len(instances) == 1:
        return instances[0], instances[0].number_of_frames // 2
    return instances[len(instances) // 2], 0


def windowed_png(instance: Instance, frame: int = 0, window=SOFT_TISSUE, size: int | None = None):
    with instance.file.open("rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ds = pydicom.dcmread(fh)
        pixels = ds.pixel_array
    if pixels.ndim == 3:
        pixels = pixels[min(frame, pixels.shape[0] - 1)]
    return render_png(pixels, ds, window, size)


def to_hu(pixels: np.ndarray, ds) -> np.ndarray:
    slope = float(ds.get("RescaleSlope", 1) or 1)
    intercept = float(ds.get("RescaleIntercept", 0) or 0)
    return pixels.astype(np.float32) * slope + intercept


def as_jpeg(png: bytes) -> bytes:
    """A rendered PNG re-encoded as JPEG (what WADO clients ask for by default)."""
    out = io.BytesIO()
    Image.open(io.BytesIO(png)).save(out, format="JPEG", quality=90)
    return out.getvalue()


def render_png(pixels: np.ndarray, ds, window, size: int | None = None) -> bytes:
    centre, width = window
    hu = to_hu(pixels, ds)
    low = centre - width / 2
    grey = np.clip((hu - low) / max(width, 1.0) * 255.0, 0, 255).astype(np.uint8)
    image = Image.fromarray(grey, mode="L")
    if size and max(image.size) > size:
        image.thumbnail((size, size))
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=False)
    return out.getvalue()
