"""The benchmark on real CT slices, whose low-dose version is made by noise insertion.

The slices are abdominal CT that packages ship (pydicom-data): never used for training, so
they test the methods on real anatomy. No noise-free truth exists, so the original scan is the
normal-dose reference.
"""

from __future__ import annotations

import inspect
import os
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from denoiser import metrics as M
from denoiser.evaluation import plots, reports
from denoiser.evaluation.defaults import DEFAULT_DOSE
from denoiser.evaluation.methods import LD_NAME, ND_NAME, Method

REAL_CT_FILES = ("explicit_VR-UN.dcm",)


def real_ct_slices(names: Sequence[str] = REAL_CT_FILES) -> list[tuple[str, np.ndarray, float]]:
    """(name, HU slice, pixel spacing mm) of each available shipped real CT slice."""
    from pydicom.data import get_testdata_file

    from denoiser.dicom.read import read_series

    slices = []
    for name in names:
        path = get_testdata_file(name)
        if path is None:
            continue  # pydicom-data not installed
        volume, headers = read_series([path])
        spacing = float(headers[0].PixelSpacing[0])
        slices.extend((name, image, spacing) for image in volume)
    return slices


def body_mask(hu: np.ndarray) -> np.ndarray:
    """The patient: largest connected region above -400 HU, holes filled (drops the table)."""
    from scipy import ndimage

    labels, n = ndimage.label(hu > -400)
    if n == 0:
        return np.zeros(hu.shape, bool)
    sizes = ndimage.sum_labels(np.ones_like(hu), labels, index=range(1, n + 1))
    return ndimage.binary_fill_holes(labels == 1 + int(np.argmax(sizes)))


def liver_like_tissue(hu: np.ndarray, body: np.ndarray, spacing: float) -> np.ndarray:
    """Soft tissue (20-200 HU) of the body at least ~3 mm from other tissue: where the blind
    noise estimate looks, so the calibration and the estimate measure the same place."""
    from scipy import ndimage

    tissue = (hu > 20) & (hu < 200) & body
    return ndimage.binary_erosion(tissue, iterations=max(1, round(3.0 / spacing)))


def evaluate_real(
    methods: dict[str, Method],
    out_dir: str | os.PathLike,
    *,
    dose: float = DEFAULT_DOSE,
    names: Sequence[str] = REAL_CT_FILES,
) -> dict[str, list[dict[str, float]]] | None:
    """Methods on real CT slices whose low-dose version is made by noise insertion.

    The original scan is the normal-dose reference (no noise-free truth exists), so fidelity is
    PSNR/SSIM against it, noise is the blind estimate a user would see, and sharpness the edge
    across the body outline. Writes ``real_ct.md`` and ``real_ct.png``; None if no file exists.
    """
    from denoiser.ctsim import insert_noise

    slices = real_ct_slices(names)
    if not slices:
        return None
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    rows: dict[str, list[dict[str, float]]] = {LD_NAME: [], **{m: [] for m in methods}}
    rows[ND_NAME] = []
    images: dict[str, list[np.ndarray]] = {name: [] for name in rows}
    for index, (_, nd, spacing) in enumerate(slices):
        # The scan's own noise level sets the flux, so quarter dose doubles the noise it has.
        nd_sd = M.estimate_noise_sd(nd, spacing)
        ld = insert_noise(
            nd,
            dose,
            rng=index,
            pixel_spacing_mm=spacing,
            nd_noise_sd=nd_sd,
            noise_roi=liver_like_tissue(nd, body_mask(nd), spacing),
        )
        body = body_mask(nd)
        outputs = {LD_NAME: (ld, 0.0), ND_NAME: (nd, 0.0)}
        for name, method in methods.items():
            start = time.perf_counter()
            result = _call_real(method, ld, spacing)
            outputs[name] = (result, time.perf_counter() - start)
        for name, (image, seconds) in outputs.items():
            rows[name].append(
                {
                    "psnr_nd": M.psnr(image, nd, "ldct"),
                    "ssim_nd": M.ssim(image, nd, "ldct"),
                    "noise_est": M.estimate_noise_sd(image, spacing),
                    "edge_mm": M.edge_rise_distance(image, body, spacing),
                    "seconds": seconds,
                }
            )
            images[name].append(image)
    reports.write_real_table(rows, slices, dose, out / "real_ct.md")
    boxes = [body_crop(nd) for _, nd, _ in slices]
    plots.plot_real(images, slices, boxes, dose, out / "real_ct.png")
    return rows


def _call_real(method: Method, hu: np.ndarray, spacing: float) -> np.ndarray:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {"pixel_spacing_mm": spacing} if "pixel_spacing_mm" in params else {}
    return np.asarray(method(hu, **kwargs), dtype=np.float32)


def body_crop(hu: np.ndarray) -> tuple[slice, slice]:
    """A square crop, half the image wide, centred on the body."""
    rows, cols = np.nonzero(body_mask(hu))
    cr, cc = int(rows.mean()), int(cols.mean())
    half = min(hu.shape) // 4
    return slice(max(0, cr - half), cr + half), slice(max(0, cc - half), cc + half)
