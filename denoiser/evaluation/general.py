"""``evaluate --suite general``: a held-out grid where phantoms cannot flatter a method.

Cells are kernel x dose x anatomy x pixel spacing. Each cell scans textured phantoms
(``denoiser.anatomy``) from the evaluation seed range (never trained on) through the
projection-domain simulator with that kernel (``denoiser.kernels``), dose and pixel size,
and compares, against the noise-free reconstruction:

- LD, the input;
- classical methods, tuned per cell on separate tuning slices of the same cell (the
  parameter with the best PSNR in the cell's window): Gaussian (width) and non-local means
  (filter strength, given the noise SD); BM3D is given the noise power spectrum measured on
  the cell's tuning slices, which its API accepts for correlated noise (its own noise model,
  so not tuned further: each BM3D run costs seconds);
- every learned model given, with and without its texture blend.

Per slice: PSNR and SSIM in the window that suits the anatomy (abdomen, pelvis, neck:
[-160, 240] HU; head: [0, 80] HU; chest: [-1350, 150] HU), noise SD (image minus truth in
the phantom's homogeneous ROI), lesion or nodule CNR; per cell the NPS peak of image minus
truth. Real CT slices that pydicom and pydicom-data ship are added with simulated low dose
(noise insertion), the original as the reference; there the classical methods are tuned on
the slice itself against that reference (an oracle: they are at their best).

Writes ``general.md`` (summary, goals, per-cell table), ``general.csv`` (per slice) and
``general.png`` (crops per cell).
"""

from __future__ import annotations

import csv
import hashlib
import math
import os
import time
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from itertools import product
from pathlib import Path

import numpy as np

from denoiser import metrics as M
from denoiser.anatomy import ANATOMIES, WINDOWS_HU, phantom
from denoiser.baselines import bm3d_denoise, gaussian_denoise, nlm_denoise
from denoiser.kernels import KERNELS
from denoiser.phantoms import Phantom
from denoiser.seeds import EVALUATION_SEEDS

# The general grid's seeds: the upper part of the evaluation range (the abdominal benchmark
# takes its first seeds); tuning slices come from a block of their own.
GRID_SEED_START = EVALUATION_SEEDS.start + 50_000
TUNING_SEED_START = EVALUATION_SEEDS.start + 90_000
GAUSSIAN_SIGMAS_PX = (0.5, 0.8, 1.2, 1.8, 2.5)
NLM_FACTORS = (0.4, 0.6, 0.8, 1.0, 1.3, 1.7, 2.2, 3.0)
BM3D_FACTORS = (1.0,)  # given the measured NPS of the cell: its own noise model
NPS_ROI = 32
# Real CT slices shipped by pydicom and pydicom-data (every distinct one: the other encodings
# of 693 are the same slice) and the window of their anatomy.
REAL_SLICES = {
    "explicit_VR-UN.dcm": (-160.0, 240.0),  # abdomen (pancreas)
    "693_UNCR.dcm": (0.0, 80.0),  # head
    "J2K_pixelrep_mismatch.dcm": (0.0, 80.0),  # head, skull base
    "eCT_Supplemental.dcm": (0.0, 80.0),  # head, enhanced CT, two frames
    "bad_sequence.dcm": (-160.0, 240.0),  # neck and spine, 0.29 mm
    "CT_small.dcm": (-160.0, 240.0),  # spine, 128 x 128
}

Method = Callable[[np.ndarray], np.ndarray]
LD, TRUTH = "LD (input)", "truth"


@dataclass(frozen=True)
class Grid:
    kernels: tuple[str, ...] = KERNELS
    doses: tuple[float, ...] = (0.05, 0.1, 0.25, 0.5)
    anatomies: tuple[str, ...] = ANATOMIES
    spacings: tuple[float, ...] = (0.35, 0.7, 1.0)
    slices: int = 3
    tuning_slices: int = 1
    size: int = 512
    # Measured on a crop of this many pixels around the organ of interest (None: the whole
    # slice): the scan keeps its real field of view, the classical filters run on the crop
    # (their cost), the learned models on the whole slice, as a user runs them (what they
    # read from the slice as a whole, such as the noise in the air, is there), their output
    # cropped the same way.
    crop: int | None = None
    # "full": every combination. "cross": every anatomy with each other factor varied alone
    # around the first dose, kernel and spacing listed (kernel x anatomy, dose x anatomy,
    # spacing x anatomy), for machines that cannot afford the full product.
    design: str = "full"
    # Explicit cells (anatomy, kernel, dose, spacing) instead of a design, when given.
    listed: tuple[tuple[str, str, float, float], ...] | None = None

    def cells(self) -> list[Cell]:
        if self.listed is not None:
            return [Cell(k, d, a, s) for a, k, d, s in self.listed]
        if self.design == "full":
            combos = product(self.anatomies, self.kernels, self.doses, self.spacings)
            return [Cell(k, d, a, s) for a, k, d, s in combos]
        k0, d0, s0 = self.kernels[0], self.doses[0], self.spacings[0]
        cells = []
        for a in self.anatomies:
            cells += [Cell(k, d0, a, s0) for k in self.kernels]
            cells += [Cell(k0, d, a, s0) for d in self.doses[1:]]
            cells += [Cell(k0, d0, a, s) for s in self.spacings[1:]]
        return cells


@dataclass(frozen=True)
class Cell:
    kernel: str
    dose: float
    anatomy: str
    spacing: float

    @property
    def label(self) -> str:
        return f"{self.anatomy} {self.kernel} {self.dose:g}x {self.spacing:g}mm"

    @property
    def window(self) -> tuple[float, float]:
        return WINDOWS_HU[self.anatomy]


@dataclass
class Scan:
    phantom: Phantom
    truth: np.ndarray
    ld: np.ndarray
    nd: np.ndarray


@dataclass
class CellResult:
    cell: Cell
    rows: dict[str, list[dict[str, float]]] = field(default_factory=dict)
    nps_peak: dict[str, float] = field(default_factory=dict)
    params: dict[str, float] = field(default_factory=dict)
    crops: dict[str, np.ndarray] = field(default_factory=dict)

    def mean(self, method: str, key: str) -> float:
        values = [r[key] for r in self.rows[method] if math.isfinite(r[key])]
        return float(np.mean(values)) if values else math.nan


def cell_seed(cell: Cell, start: int, k: int) -> int:
    """The k-th phantom of a cell: fixed by the cell itself, whatever grid it is part of
    (ten per cell, so a cell asks for at most ten slices)."""
    if not 0 <= k < 10:
        raise ValueError(f"a cell has at most 10 slices of each kind, not {k + 1}")
    return start + (zlib.crc32(cell.label.encode()) % 3000) * 10 + k


def scan(cell: Cell, seed: int, size: int, cache: Path | None = None) -> Scan:
    """One simulated slice of the cell (read from ``cache`` when it was simulated before)."""
    path = cache / f"scan-{cell.label.replace(' ', '_')}-{seed}-{size}.npz" if cache else None
    if path is not None and path.exists():
        with np.load(path) as z:
            ph = phantom(cell.anatomy, size, seed, cell.spacing)  # masks: cheap to redraw
            return Scan(ph, z["truth"], z["ld"], z["nd"])
    result = _simulate(cell, seed, size)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, truth=result.truth, ld=result.ld, nd=result.nd)
        os.replace(tmp, path)
    return result


def _simulate(cell: Cell, seed: int, size: int) -> Scan:
    from denoiser.ctsim import simulate_doses

    ph = phantom(cell.anatomy, size, seed, cell.spacing)
    series = simulate_doses(
        ph.hu,
        [cell.dose],
        rng=np.random.default_rng([seed, 0xE7A1]),
        pixel_spacing_mm=cell.spacing,
        filter_name=cell.kernel,
    )
    return Scan(ph, series.truth, series.ld[cell.dose], series.nd)


def noise_psd(noise: np.ndarray, mask: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    """The noise power spectrum on an image's FFT grid (BM3D's scaling, |fft2|^2 per pixel
    count), from ``NPS_ROI``-pixel windows of ``noise`` inside ``mask``, interpolated."""
    from scipy import ndimage

    rois = M.extract_rois(noise, NPS_ROI, mask)
    if len(rois) == 0:
        rois = M.extract_rois(noise, NPS_ROI, None)
    rois = rois - rois.mean(axis=(1, 2), keepdims=True)
    small = np.fft.fftshift((np.abs(np.fft.fft2(rois)) ** 2).mean(axis=0)) / NPS_ROI**2
    zoom = (shape[0] / NPS_ROI, shape[1] / NPS_ROI)
    big = ndimage.zoom(small, zoom, order=1, mode="nearest", grid_mode=True)
    return np.fft.ifftshift(big) * shape[0] * shape[1]


def _soft(ph: Phantom) -> np.ndarray:
    from scipy import ndimage

    return ndimage.binary_erosion(ph.body, iterations=3)


def noise_key(scans: Sequence[Scan]) -> str:
    """A short digest of the tuning slices: NLM's and BM3D's noise model come from them, so
    cached outputs are only reused under the same noise model."""
    digest = hashlib.sha256()
    for s in scans:
        digest.update(np.ascontiguousarray(s.ld - s.truth, np.float32).tobytes())
    return digest.hexdigest()[:10]


def classical(scans: Sequence[Scan], cell: Cell) -> dict[str, Callable[[float], Method]]:
    """Each classical method as a function of its tuned parameter, its noise model taken
    from the scans given (the tuning slices: the cell's noise, never the evaluated slice's)."""
    noise = np.concatenate([(s.ld - s.truth)[_soft(s.phantom)] for s in scans])
    sd = float(noise.std())
    psd = np.mean([noise_psd(s.ld - s.truth, _soft(s.phantom), s.ld.shape) for s in scans], axis=0)
    return {
        "gaussian": lambda p: (
            lambda hu: gaussian_denoise(
                hu, sigma_mm=p * cell.spacing, pixel_spacing_mm=cell.spacing
            )
        ),
        "nlm": lambda p: lambda hu: nlm_denoise(hu, sigma_hu=sd, h_factor=p),
        "bm3d": lambda p: lambda hu: bm3d_denoise(hu, psd=psd * p),
    }


GRIDS = {"gaussian": GAUSSIAN_SIGMAS_PX, "nlm": NLM_FACTORS, "bm3d": BM3D_FACTORS}


def tune(
    makers: dict[str, Callable[[float], Method]],
    pairs: Sequence[tuple[np.ndarray, np.ndarray]],
    window: tuple[float, float],
) -> dict[str, float]:
    """The parameter of each method with the best mean PSNR on (input, reference) pairs."""
    best = {}
    for name, make in makers.items():
        scores = {}
        for p in GRIDS[name]:
            method = make(p)
            scores[p] = np.mean([M.psnr(method(x), ref, _win(window)) for x, ref in pairs])
        best[name] = max(scores, key=scores.get)
    return best


def _win(window: tuple[float, float]) -> M.Window:
    lo, hi = window
    return M.Window(f"[{lo:g},{hi:g}] HU", lo, hi)


def measure(image: np.ndarray, s: Scan, window: tuple[float, float]) -> dict[str, float]:
    ph = s.phantom
    row = {
        "psnr": M.psnr(image, s.truth, _win(window)),
        "ssim": M.ssim(image, s.truth, _win(window)),
        "noise_sd": M.noise_sd(image, ph.liver_roi, reference=s.truth),
    }
    lesions = [les for les in ph.lesions if les.background.sum() > 1 and les.mask.any()]
    cnrs = [M.cnr(image, le.mask, le.background) for le in lesions]
    row["cnr"] = float(np.mean(cnrs)) if cnrs else math.nan
    return row


def evaluate_cell(
    cell: Cell, grid: Grid, models: dict[str, Method], cache: Path | None = None
) -> CellResult:
    def scans_from(start: int, n: int) -> list[Scan]:
        return [scan(cell, cell_seed(cell, start, k), grid.size, cache) for k in range(n)]

    def cropped(scans: list[Scan]) -> list[Scan]:
        return [crop_scan(s, grid.crop) for s in scans] if grid.crop else scans

    tuning = cropped(scans_from(TUNING_SEED_START, grid.tuning_slices))
    makers = _cached_makers(classical(tuning, cell), cache, noise_key(tuning))
    params = tune(makers, [(s.ld, s.truth) for s in tuning], cell.window)
    methods: dict[str, Method] = {name: makers[name](p) for name, p in params.items()}
    methods.update(models)
    result = CellResult(cell, params=params)
    whole = scans_from(GRID_SEED_START, grid.slices)
    scans = cropped(whole)
    boxes = [crop_box(s, grid.crop) if grid.crop else None for s in whole]
    outputs: dict[str, list[np.ndarray]] = {LD: [s.ld for s in scans], "ND": [s.nd for s in scans]}
    for name, method in methods.items():
        start = time.perf_counter()
        if name in models:
            images = [(method(w.ld), box) for w, box in zip(whole, boxes, strict=True)]
            outputs[name] = [np.asarray(o if b is None else o[b], np.float32) for o, b in images]
        else:
            outputs[name] = [np.asarray(method(s.ld), np.float32) for s in scans]
        seconds = (time.perf_counter() - start) / len(scans)
        if getattr(method, "seconds", None):  # cached outputs: the time of the first run
            seconds = float(np.mean(method.seconds[-len(scans) :]))
        result.rows[name] = [
            measure(o, s, cell.window) for o, s in zip(outputs[name], scans, strict=True)
        ]
        for row in result.rows[name]:
            row["seconds"] = seconds
    for name in (LD, "ND"):
        result.rows[name] = [
            measure(o, s, cell.window) for o, s in zip(outputs[name], scans, strict=True)
        ]
    for name, images in outputs.items():
        result.nps_peak[name] = _nps_peak(images, scans, cell.spacing)
    result.crops = {name: _crop(images[0], scans[0]) for name, images in outputs.items()}
    result.crops[TRUTH] = _crop(scans[0].truth, scans[0])
    return result


def _nps_peak(images: list[np.ndarray], scans: list[Scan], spacing: float) -> float:
    masks = np.stack([_soft(s.phantom) for s in scans])
    try:
        return M.noise_power_spectrum(
            np.stack(images),
            spacing,
            mask=masks,
            reference=np.stack([s.truth for s in scans]),
            roi_size=NPS_ROI,
        ).peak_frequency
    except ValueError:
        return math.nan


def crop_box(s: Scan, size: int) -> tuple[slice, slice]:
    """The ``size``-pixel square around the organ ROI."""
    rows, cols = np.nonzero(s.phantom.liver_roi)
    half = size // 2
    r = int(np.clip(rows.mean(), half, s.truth.shape[0] - half))
    c = int(np.clip(cols.mean(), half, s.truth.shape[1] - half))
    return slice(r - half, r - half + size), slice(c - half, c - half + size)


def crop_scan(s: Scan, size: int) -> Scan:
    """The ``size``-pixel square around the organ ROI, images and masks alike."""
    box = crop_box(s, size)
    ph = s.phantom
    lesions = [
        replace(les, mask=les.mask[box], background=les.background[box])
        for les in ph.lesions
        if les.mask[box].any()
    ]
    cropped = replace(
        ph,
        hu=ph.hu[box],
        body=ph.body[box],
        liver=ph.liver[box],
        liver_roi=ph.liver_roi[box],
        labels=ph.labels[box],
        lesions=lesions,
    )
    return Scan(cropped, s.truth[box], s.ld[box], s.nd[box])


def _cached_makers(
    makers: dict[str, Callable[[float], Method]], cache: Path | None, noise: str
) -> dict[str, Callable[[float], Method]]:
    return {
        name: (lambda p, name=name: _cached_method(makers[name](p), f"{name}-{p:g}-{noise}", cache))
        for name in makers
    }


def _cached_method(method: Method, key: str, cache: Path | None) -> Method:
    """A classical method whose outputs are kept under ``cache`` by input digest and
    parameter, so a rerun with another model computes only the model."""
    if cache is None:
        return method

    def cached(hu: np.ndarray) -> np.ndarray:
        digest = hashlib.sha256(np.ascontiguousarray(hu, np.float32).tobytes()).hexdigest()[:20]
        path = cache / "outputs" / f"{key}-{digest}.npz"
        if path.exists():
            with np.load(path) as z:
                cached.seconds.append(float(z["seconds"]))  # the time it took when computed
                return z["image"]
        start = time.perf_counter()
        out = np.asarray(method(hu), np.float32)
        cached.seconds.append(time.perf_counter() - start)
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.stem}.{os.getpid()}.npz")
        np.savez(tmp, image=out, seconds=cached.seconds[-1])
        os.replace(tmp, path)
        return out

    cached.seconds = []
    return cached


def _crop(image: np.ndarray, s: Scan) -> np.ndarray:
    rows, cols = np.nonzero(s.phantom.liver_roi)
    r, c = int(rows.mean()), int(cols.mean())
    half = min(image.shape) // 6
    r = int(np.clip(r, half, image.shape[0] - half))
    c = int(np.clip(c, half, image.shape[1] - half))
    return image[r - half : r + half, c - half : c + half]


def evaluate_real(
    models: dict[str, Method], dose: float = 0.25, cache: Path | None = None
) -> list[CellResult]:
    """Every shipped real CT slice at ``dose`` by noise insertion; the original as reference."""
    from denoiser.ctsim import insert_noise
    from denoiser.evaluation.real import body_mask, liver_like_tissue, real_ct_slices

    results = []
    for number, (name, nd, spacing) in enumerate(real_ct_slices(tuple(REAL_SLICES))):
        window = REAL_SLICES[name]
        body = body_mask(nd)
        tissue = liver_like_tissue(nd, body, spacing)
        nd_sd = M.estimate_noise_sd(nd, spacing)
        roi = tissue if tissue.sum() >= 50 else None
        ld = insert_noise(
            nd, dose, rng=number, pixel_spacing_mm=spacing, nd_noise_sd=nd_sd, noise_roi=roi
        )
        fake = Scan(_real_phantom(nd, body, tissue, spacing), nd, ld, nd)
        cell = Cell("scanner", dose, f"real: {name}", spacing)
        makers = _cached_makers(classical([fake], cell), cache, noise_key([fake]))
        params = tune(makers, [(ld, nd)], window)
        methods = {k: makers[k](p) for k, p in params.items()} | dict(models)
        result = CellResult(cell, params=params)
        outputs = {LD: ld}
        for key, method in methods.items():
            start = time.perf_counter()
            outputs[key] = np.asarray(method(ld), np.float32)
            seconds = time.perf_counter() - start
            result.rows[key] = [{**measure(outputs[key], fake, window), "seconds": seconds}]
        result.rows[LD] = [measure(ld, fake, window)]
        result.crops = {k: _crop(v, fake) for k, v in outputs.items()}
        result.crops[TRUTH] = _crop(nd, fake)
        results.append(result)
    return results


def _real_phantom(nd, body, tissue, spacing) -> Phantom:
    """The masks a measurement needs, for a real slice: its body, and a flat tissue ROI."""
    roi = tissue if tissue.any() else body
    return Phantom(
        hu=nd,
        pixel_spacing_mm=spacing,
        body=body,
        liver=roi,
        liver_roi=roi,
        labels=np.zeros(nd.shape, np.uint8),
    )


def run(
    grid: Grid,
    models: dict[str, Method],
    out_dir: Path,
    *,
    real: bool = True,
    command: str = "",
    cache: Path | None = None,
    progress: Callable[[str], None] | None = None,
    workers: int = 1,
) -> tuple[list[CellResult], list[CellResult]]:
    """The whole grid (and the real slices), then the report; returns both result lists."""
    out_dir.mkdir(parents=True, exist_ok=True)
    cells = grid.cells()
    results = []
    if workers > 1:
        results = _in_processes(cells, grid, models, cache, workers, progress)
    for index, cell in enumerate(cells if workers <= 1 else []):
        results.append(evaluate_cell(cell, grid, models, cache))
        if progress:
            progress(f"cell {index + 1}/{len(cells)}: {cell.label}")
    reals = evaluate_real(models, cache=cache) if real else []
    write_report(results, reals, grid, list(models), out_dir, command)
    return results, reals


_FORKED: tuple = ()


def _forked_cell(index: int) -> CellResult:
    cells, grid, models, cache = _FORKED
    import torch

    torch.set_num_threads(1)
    return evaluate_cell(cells[index], grid, models, cache)


def _in_processes(cells, grid, models, cache, workers, progress) -> list[CellResult]:
    """Cells in ``workers`` forked processes (the models are inherited, not pickled)."""
    import multiprocessing

    global _FORKED
    _FORKED = (cells, grid, models, cache)
    results = []
    with multiprocessing.get_context("fork").Pool(workers) as pool:
        for index, result in enumerate(pool.imap(_forked_cell, range(len(cells)))):
            results.append(result)
            if progress:
                progress(f"cell {index + 1}/{len(cells)}: {cells[index].label}")
    return results


# ---- report ------------------------------------------------------------------------------
CLASSICAL = ("gaussian", "nlm", "bm3d")


def verdicts(result: CellResult, model: str) -> dict[str, float | bool]:
    """The goals for one model in one cell: beats the best tuned classical method in PSNR
    and in SSIM, never below LD."""
    best_psnr = max(result.mean(m, "psnr") for m in CLASSICAL)
    best_ssim = max(result.mean(m, "ssim") for m in CLASSICAL)
    psnr, ssim = result.mean(model, "psnr"), result.mean(model, "ssim")
    return {
        "psnr_margin": psnr - best_psnr,
        "ssim_margin": ssim - best_ssim,
        "beats": psnr > best_psnr and ssim > best_ssim,
        "above_ld": psnr >= result.mean(LD, "psnr") and ssim >= result.mean(LD, "ssim"),
    }


def write_report(
    results: list[CellResult],
    reals: list[CellResult],
    grid: Grid,
    models: list[str],
    out_dir: Path,
    command: str,
) -> None:
    _write_csv(results + reals, out_dir / "general.csv")
    lines = [
        "# General evaluation: kernel x dose x anatomy x pixel spacing, and real CT",
        "",
        f"Reproduce: `{command}`" if command else "",
        "",
        f"- Grid: kernels {', '.join(grid.kernels)}; doses "
        f"{', '.join(f'{d:g}' for d in grid.doses)};"
        f" anatomies {', '.join(grid.anatomies)}; pixel spacing "
        f"{', '.join(f'{s:g}' for s in grid.spacings)} mm; {grid.size}x{grid.size}; "
        f"{grid.slices} slices per cell (seeds from {GRID_SEED_START}, evaluation range, never "
        f"trained on), classical methods tuned per cell on {grid.tuning_slices} other slice(s).",
        "- PSNR/SSIM against the noise-free reconstruction in the anatomy's window (abdomen, "
        "pelvis, neck [-160, 240] HU; head [0, 80]; chest [-1350, 150]); noise SD = SD of image "
        "minus truth in a homogeneous ROI; CNR of lesions/nodules against their ring; NPS peak "
        "(cycles/mm) of image minus truth in the body.",
        "- Real CT: the slices pydicom and pydicom-data ship, quarter dose by noise insertion, "
        "the original as the reference (it has its own noise); classical methods tuned on the "
        "slice itself against it (an oracle).",
        "",
        "## Goals",
        "",
        "| model | cells where it beats the best classical method (PSNR and SSIM) | real slices |"
        " never below LD | NPS peak within 25 % of ND's (cells) |",
        "|---|---|---|---|---|",
    ]
    for model in models:
        cell_v = [verdicts(r, model) for r in results]
        real_v = [verdicts(r, model) for r in reals]
        nps_ok = [
            abs(r.nps_peak[model] / r.nps_peak["ND"] - 1) <= 0.25
            for r in results
            if math.isfinite(r.nps_peak.get(model, math.nan)) and r.nps_peak.get("ND")
        ]
        lines.append(
            f"| {model} | {sum(v['beats'] for v in cell_v)}/{len(cell_v)} "
            f"(median margin {np.median([v['psnr_margin'] for v in cell_v] or [math.nan]):+.2f} dB)"
            f" | {sum(v['beats'] for v in real_v)}/{len(real_v)} | "
            f"{sum(v['above_ld'] for v in cell_v + real_v)}/{len(cell_v + real_v)} | "
            f"{sum(nps_ok)}/{len(nps_ok)} |"
        )
    names = [LD, *CLASSICAL, *models]
    for title, group in (("Cells", results), ("Real CT slices", reals)):
        if not group:
            continue
        lines += ["", f"## {title}: PSNR dB / SSIM (mean over slices)", ""]
        lines.append("| cell | " + " | ".join(names) + " | tuned |")
        lines.append("|---|" + "---|" * (len(names) + 1))
        for r in group:
            cells = [f"{r.mean(n, 'psnr'):.2f} / {r.mean(n, 'ssim'):.3f}" for n in names]
            tuned = ", ".join(f"{k} {v:g}" for k, v in r.params.items())
            lines.append(f"| {r.cell.label} | " + " | ".join(cells) + f" | {tuned} |")
    lines += ["", "## Noise SD HU / lesion CNR / NPS peak c/mm (cells)", ""]
    lines.append("| cell | " + " | ".join([*names, "ND"]) + " |")
    lines.append("|---|" + "---|" * (len(names) + 1))
    for r in results:
        cells = [
            f"{r.mean(n, 'noise_sd'):.1f} / {r.mean(n, 'cnr'):.2f} / "
            f"{r.nps_peak.get(n, math.nan):.2f}"
            for n in [*names, "ND"]
        ]
        lines.append(f"| {r.cell.label} | " + " | ".join(cells) + " |")
    speeds = {n: np.mean([r.mean(n, "seconds") for r in results + reals]) for n in names[1:]}
    lines += [
        "",
        "Seconds per slice (this machine): " + ", ".join(f"{n} {t:.2f}" for n, t in speeds.items()),
        "",
    ]
    (out_dir / "general.md").write_text("\n".join(lines))
    _plot(results + reals, [LD, *CLASSICAL, *models, TRUTH], out_dir / "general.png")


def _write_csv(results: list[CellResult], path: Path) -> None:
    with path.open("w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(
            [
                "cell",
                "kernel",
                "dose",
                "anatomy",
                "spacing_mm",
                "method",
                "slice",
                "psnr",
                "ssim",
                "noise_sd",
                "cnr",
                "seconds",
            ]
        )
        for r in results:
            c = r.cell
            for method, rows in r.rows.items():
                for i, row in enumerate(rows):
                    writer.writerow(
                        [
                            c.label,
                            c.kernel,
                            c.dose,
                            c.anatomy,
                            c.spacing,
                            method,
                            i,
                            *(
                                f"{row.get(k, math.nan):.4f}"
                                for k in ("psnr", "ssim", "noise_sd", "cnr", "seconds")
                            ),
                        ]
                    )


def _plot(results: list[CellResult], columns: list[str], path: Path, max_rows: int = 40) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = results[:: max(1, math.ceil(len(results) / max_rows))]
    fig, axes = plt.subplots(
        len(shown), len(columns), figsize=(1.6 * len(columns), 1.7 * len(shown)), squeeze=False
    )
    for i, r in enumerate(shown):
        lo, hi = REAL_SLICES.get(r.cell.anatomy.removeprefix("real: ")) or r.cell.window
        for j, name in enumerate(columns):
            ax = axes[i, j]
            ax.imshow(r.crops[name], cmap="gray", vmin=lo, vmax=hi, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if i == 0:
                ax.set_title(name[:28], fontsize=6)
        axes[i, 0].set_ylabel(r.cell.label, fontsize=5)
    fig.tight_layout()
    fig.savefig(path, dpi=90)
    plt.close(fig)
