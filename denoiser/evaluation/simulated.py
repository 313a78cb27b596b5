"""The benchmark on held-out simulated phantoms, where a noise-free truth exists.

Per slice, every method's output is measured for:

* fidelity against the noise-free reconstruction (``truth``: the phantom through the same
  scanner without noise, i.e. at the system's resolution): PSNR/SSIM/RMSE in the LDCT
  convention ([-160, 240] HU, range 400) and in the abdomen window (W400/L50 scaled to [0, 1]),
  plus PSNR/SSIM against the normal-dose image, the reference most papers use;
* noise: SD in the phantom's liver ROI as a reader would measure it, and the SD of the error
  in the whole liver;
* lesions: CNR (|lesion - ring of liver| / SD of the ring) and the measured lesion contrast;
* sharpness: 10-90 % edge rise distance and MTF50 across the body outline (high contrast) and
  across the lesion edges, pooled over the set (low contrast, where smoothing shows);
* texture: the noise power spectrum (image - truth) pooled over liver ROIs of all slices, its
  peak and mean frequency;
* time per slice.
"""

from __future__ import annotations

import hashlib
import inspect
import math
import os
import time
from pathlib import Path

import numpy as np

from denoiser import metrics as M
from denoiser.baselines import BASELINES
from denoiser.ctsim import SimDataset, SimSlice, make_dataset
from denoiser.evaluation import plots, reports
from denoiser.evaluation.defaults import DEFAULT_DOSE, DEFAULT_N_SLICES, DEFAULT_SIZE
from denoiser.evaluation.methods import LD_NAME, ND_NAME, Method, MethodResult
from denoiser.seeds import EVALUATION_SEEDS

NPS_ROI_MM = 45.0  # 64 px at 0.7 mm


def heldout_dataset(
    n_slices: int = DEFAULT_N_SLICES,
    *,
    size: int = DEFAULT_SIZE,
    dose: float = DEFAULT_DOSE,
    cache_dir: str | os.PathLike | None = None,
    n_views: int | None = None,
    workers: int = 1,
    progress: bool = False,
) -> SimDataset:
    """The held-out phantoms from the start of the evaluation seed range, at normal dose and
    ``dose`` (simulated once, then read from ``cache_dir``)."""
    return make_dataset(
        n_slices,
        size=size,
        doses=(dose,),
        seed=EVALUATION_SEEDS.start,
        cache_dir=cache_dir,
        n_views=n_views,
        workers=workers,
        progress=progress,
    )


def evaluate(
    methods: dict[str, Method],
    dataset: SimDataset,
    out_dir: str | os.PathLike,
    *,
    dose: float | None = None,
    n_examples: int = 2,
    progress: bool = False,
    command: str | None = None,
    output_cache: str | os.PathLike | None = None,
) -> dict[str, MethodResult]:
    """Run and measure ``methods`` on ``dataset`` at ``dose``; write the reports to ``out_dir``.

    A method is ``f(hu_2d) -> hu_2d``. If it accepts the keywords ``noise_roi`` and/or
    ``pixel_spacing_mm`` it gets the slice's liver ROI and pixel spacing, so noise-driven
    filters (BM3D, NLM) set their sigma from a liver ROI of the noisy image, as a user would.
    Returns the per-method results (LD and ND included). Writes ``results.md``,
    ``results.csv`` (mean and SD per method), ``per_slice.csv``, ``examples.png`` (crops) and
    ``nps.png``.

    With ``output_cache``, outputs of the built-in baselines (deterministic, and BM3D is slow)
    are stored keyed by a hash of their input and reused, timing included, so adding a model
    to a finished benchmark does not rerun them.
    """
    dose = float(dose if dose is not None else dataset.doses[0])
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    results = {name: MethodResult(name) for name in [LD_NAME, *methods, ND_NAME]}
    slices = list(dataset)
    if progress:
        from tqdm import tqdm

        slices = tqdm(slices, desc="evaluating", unit="slice")
    for sim in slices:
        ld = sim.ld[dose]
        outputs = {LD_NAME: (ld, 0.0), ND_NAME: (sim.nd, 0.0)}
        for name, method in methods.items():
            cached = output_cache is not None and BASELINES.get(name) is method
            outputs[name] = (
                _cached_call(Path(output_cache), name, method, ld, sim)
                if cached
                else _timed_call(method, ld, sim)
            )
        for name, (image, seconds) in outputs.items():
            row = measure_slice(image, sim)
            row["seconds"] = seconds
            row["seed"] = sim.seed
            results[name].rows.append(row)
            results[name].images.append(image)
    # Texture: one NPS per method from liver ROIs pooled over all slices (one slice's ROIs are
    # too few for a steady peak).
    masks = np.stack([sim.phantom.liver for sim in dataset])
    truth = dataset.stack("truth")
    roi = max(16, int(round(NPS_ROI_MM / dataset.pixel_spacing_mm)))
    for res in results.values():
        try:
            res.nps = M.noise_power_spectrum(
                np.stack(res.images),
                dataset.pixel_spacing_mm,
                mask=masks,
                reference=truth,
                roi_size=roi,
            )
        except ValueError:
            res.nps = None  # no liver ROI fits at this image size
    lesions = [
        [(le.center_rc, le.radius_mm, le.contrast_hu, le.background) for le in sim.phantom.lesions]
        for sim in dataset
    ]
    for res in results.values():
        try:
            res.lesion_edge = M.disk_edge_spread(res.images, lesions, dataset.pixel_spacing_mm)
        except ValueError:
            res.lesion_edge = None  # no lesion in the set
    reports.write_tables(results, dataset, dose, out, command=command)
    plots.plot_examples(results, dataset, dose, out / "examples.png", n_examples)
    plots.plot_nps(results, out / "nps.png")
    return results


def measure_slice(image: np.ndarray, sim: SimSlice) -> dict[str, float]:
    """Every per-slice metric of ``image`` against the slice's truth, ND image and masks."""
    ph, truth = sim.phantom, sim.truth
    spacing = ph.pixel_spacing_mm
    row = {
        "psnr": M.psnr(image, truth, "ldct"),
        "ssim": M.ssim(image, truth, "ldct"),
        "rmse": M.rmse(image, truth, "ldct"),
        "psnr_abd": M.psnr(image, truth, "abdomen"),
        "ssim_abd": M.ssim(image, truth, "abdomen"),
        "psnr_nd": M.psnr(image, sim.nd, "ldct"),
        "ssim_nd": M.ssim(image, sim.nd, "ldct"),
        "roi_sd": M.noise_sd(image, ph.liver_roi),
        "noise_sd": M.noise_sd(image, ph.liver, reference=truth),
    }
    lesions = [les for les in ph.lesions if les.background.sum() > 1 and les.mask.any()]
    if lesions:
        row["cnr"] = float(np.mean([M.cnr(image, le.mask, le.background) for le in lesions]))
        row["contrast"] = float(
            np.mean([image[le.mask].mean() - image[le.background].mean() for le in lesions])
        )
    else:
        row["cnr"] = row["contrast"] = math.nan
    edge = M.edge_spread(image, ph.body, spacing)
    row["edge_mm"], row["mtf50"] = edge.rise_distance_mm, edge.mtf50
    return row


def _timed_call(method: Method, hu: np.ndarray, sim: SimSlice) -> tuple[np.ndarray, float]:
    start = time.perf_counter()
    result = _call(method, hu, sim)
    return result, time.perf_counter() - start


def _cached_call(
    cache: Path, name: str, method: Method, hu: np.ndarray, sim: SimSlice
) -> tuple[np.ndarray, float]:
    digest = hashlib.sha256(np.ascontiguousarray(hu, np.float32).tobytes())
    digest.update(sim.phantom.liver_roi.tobytes())  # BM3D/NLM read their sigma there
    path = cache / f"{name}-seed{sim.seed}-{digest.hexdigest()[:16]}.npz"
    if path.exists():
        try:
            with np.load(path) as z:
                return z["image"], float(z["seconds"])
        except (OSError, ValueError, KeyError):
            pass  # damaged: compute again
    image, seconds = _timed_call(method, hu, sim)
    cache.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, image=image, seconds=seconds)
    os.replace(tmp, path)
    return image, seconds


def _call(method: Method, hu: np.ndarray, sim: SimSlice) -> np.ndarray:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {}
    if "noise_roi" in params:
        kwargs["noise_roi"] = sim.phantom.liver_roi
    if "pixel_spacing_mm" in params:
        kwargs["pixel_spacing_mm"] = sim.phantom.pixel_spacing_mm
    out = np.asarray(method(hu, **kwargs), dtype=np.float32)
    if out.shape != hu.shape:
        raise ValueError(f"method returned shape {out.shape} for input {hu.shape}")
    return out
