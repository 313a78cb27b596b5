"""Benchmark denoisers on held-out simulated low-dose phantoms: table, CSV and figures.

``python -m denoiser evaluate [--checkpoint PATH ...] [--out DIR] [--n-slices N]`` simulates
(once, cached) phantom slices from ``denoiser.seeds.EVALUATION_SEEDS`` (anatomy no training run
may use), scans them at normal dose and at the evaluation dose (quarter dose by default), runs
every method on the low-dose images and measures, per slice:

* fidelity against the noise-free reconstruction (``truth``: the phantom through the same
  scanner without noise, i.e. at the system's resolution): PSNR/SSIM/RMSE in the LDCT
  convention ([-160, 240] HU, range 400) and in the abdomen window (W400/L50 scaled to [0, 1]),
  plus PSNR/SSIM against the normal-dose image, the reference most papers use;
* noise: SD in the phantom's liver ROI as a reader would measure it, and the SD of the error
  in the whole liver;
* lesions: CNR (|lesion - ring of liver| / SD of the ring) and the measured lesion contrast;
* sharpness: 10-90 % edge rise distance and MTF50 across the body outline (high contrast) and
  across the lesion edges, pooled over the set (low contrast, where smoothing shows);
* texture: the noise power spectrum (image - truth) pooled over liver ROIs of all slices, its peak
  and mean frequency;
* time per slice.

The low-dose input ("LD") and the normal-dose image ("ND") are measured the same way and listed
beside the methods. Outputs: ``results.md``, ``results.csv`` (mean and SD per method),
``per_slice.csv``, ``examples.png`` (crops) and ``nps.png``.
"""

from __future__ import annotations

import argparse
import csv
import hashlib
import inspect
import math
import os
import shlex
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from denoiser import metrics as M
from denoiser.baselines import BASELINES
from denoiser.ctsim import DEFAULT_ELECTRONIC_NOISE, DEFAULT_I0, SimDataset, SimSlice, make_dataset
from denoiser.seeds import EVALUATION_SEEDS

Method = Callable[[np.ndarray], np.ndarray]

LD_NAME, ND_NAME = "LD (input)", "ND (reference)"
DEFAULT_OUT = Path("benchmarks/denoiser/results")
DEFAULT_CACHE = Path("var/sim-cache")
DEFAULT_N_SLICES = 20
DEFAULT_SIZE = 512
DEFAULT_DOSE = 0.25
NPS_ROI_MM = 45.0  # 64 px at 0.7 mm

# (key, column title, format) in table order; the CSV uses the keys.
COLUMNS: list[tuple[str, str, str]] = [
    ("psnr", "PSNR dB [-160,240]", "{:.2f}"),
    ("ssim", "SSIM [-160,240]", "{:.3f}"),
    ("rmse", "RMSE HU", "{:.1f}"),
    ("psnr_abd", "PSNR dB W400/L50", "{:.2f}"),
    ("ssim_abd", "SSIM W400/L50", "{:.3f}"),
    ("psnr_nd", "PSNR dB vs ND", "{:.2f}"),
    ("ssim_nd", "SSIM vs ND", "{:.3f}"),
    ("roi_sd", "liver ROI SD HU", "{:.1f}"),
    ("noise_sd", "liver error SD HU", "{:.1f}"),
    ("cnr", "lesion CNR", "{:.2f}"),
    ("contrast", "lesion contrast HU", "{:.1f}"),
    ("edge_mm", "edge 10-90% mm", "{:.2f}"),
    ("mtf50", "MTF50 c/mm", "{:.3f}"),
    ("seconds", "s/slice", "{:.2f}"),
]


@dataclass
class MethodResult:
    name: str
    rows: list[dict[str, float]] = field(default_factory=list)
    nps: M.NoisePowerSpectrum | None = None
    lesion_edge: M.EdgeSpread | None = None  # pooled over every lesion of the set
    images: list[np.ndarray] = field(default_factory=list)  # outputs, for NPS and figures

    def mean(self, key: str) -> float:
        values = [r[key] for r in self.rows if np.isfinite(r[key])]
        return float(np.mean(values)) if values else math.nan

    def sd(self, key: str) -> float:
        values = [r[key] for r in self.rows if np.isfinite(r[key])]
        return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


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
    Returns the per-method results (LD and ND included).

    With ``output_cache``, outputs of the built-in baselines (deterministic, and BM3D costs
    ~20-30 s per 512x512 slice) are stored keyed by a hash of their input and reused, timing
    included, so adding a model to a finished benchmark does not rerun them.
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
    write_reports(results, dataset, dose, out, n_examples=n_examples, command=command)
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


def _example_slices(n: int, k: int) -> list[int]:
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)}) if n and k else []


# --- reports ----------------------------------------------------------------------------------


def write_reports(
    results: dict[str, MethodResult],
    dataset: SimDataset,
    dose: float,
    out: Path,
    *,
    n_examples: int = 2,
    command: str | None = None,
) -> None:
    _write_per_slice_csv(results, out / "per_slice.csv")
    _write_summary_csv(results, out / "results.csv")
    (out / "results.md").write_text(_markdown(results, dataset, dose, command))
    _plot_examples(results, dataset, dose, out / "examples.png", n_examples)
    _plot_nps(results, out / "nps.png")


def _write_per_slice_csv(results: dict[str, MethodResult], path: Path) -> None:
    keys = ["seed", *[k for k, _, _ in COLUMNS]]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(["method", *keys])
        for name, res in results.items():
            for row in res.rows:
                writer.writerow([name, *[_num(row.get(k, math.nan)) for k in keys]])


def _write_summary_csv(results: dict[str, MethodResult], path: Path) -> None:
    keys = [k for k, _, _ in COLUMNS]
    header = ["method", "n_slices"]
    for k in keys:
        header += [f"{k}_mean", f"{k}_sd"]
    header += ["nps_peak_cpmm", "nps_mean_cpmm", "nps_rois", "lesion_edge_mm"]
    with open(path, "w", newline="") as fh:
        writer = csv.writer(fh)
        writer.writerow(header)
        for name, res in results.items():
            row = [name, len(res.rows)]
            for k in keys:
                row += [_num(res.mean(k)), _num(res.sd(k))]
            nps = res.nps
            row += [
                _num(nps.peak_frequency if nps else math.nan),
                _num(nps.mean_frequency if nps else math.nan),
                nps.n_rois if nps else 0,
                _num(res.lesion_edge.rise_distance_mm if res.lesion_edge else math.nan),
            ]
            writer.writerow(row)


def _num(value: float) -> str:
    return "" if value is None or not np.isfinite(value) else f"{value:.6g}"


def _markdown(
    results: dict[str, MethodResult], dataset: SimDataset, dose: float, command: str | None
) -> str:
    seeds = [s.seed for s in dataset]
    lines = [
        "# Denoiser benchmark on held-out simulated low-dose phantoms",
        "",
        *([f"Reproduce: `{command}`", ""] if command else []),
        f"- Data: {len(dataset)} abdominal phantom slices, {dataset.size}x{dataset.size}, "
        f"{dataset.pixel_spacing_mm:.2f} mm pixels, seeds {min(seeds)}-{max(seeds)} "
        f"(evaluation range {EVALUATION_SEEDS.start}-{EVALUATION_SEEDS.stop - 1}, never used "
        "for training).",
        f"- Low dose: {dose:g} x normal dose, projection-domain simulation (Poisson, I0 "
        f"{DEFAULT_I0:g}/element/view at 0.7 mm and 720 views, electronic noise "
        f"{DEFAULT_ELECTRONIC_NOISE:g} counts, Hann FBP); LD is ND plus extra noise (thinning).",
        "- Reference for PSNR/SSIM/RMSE: the noise-free reconstruction (truth). Windows: "
        "[-160, 240] HU with data range 400 (LDCT convention) and W400/L50 scaled to [0, 1]; "
        "'vs ND' columns use the normal-dose image as reference ([-160, 240] HU).",
        "- Liver ROI SD: SD inside a ~1.5 cm^2 homogeneous liver ROI of the image (what a reader "
        "measures); liver error SD: SD of image - truth over the whole liver. CNR: |lesion - "
        "liver ring| / SD(ring), mean over lesions. Edge: 10-90 % rise distance and MTF50 "
        "across the body outline (high contrast). NPS: image - truth, 45 mm liver ROIs pooled over "
        "all slices. Lesion edge: 10-90 % rise of the edge spread pooled over every lesion "
        "(known centre, radius, contrast): low-contrast sharpness; noisy for noisy images.",
        "- Values are mean ± SD over slices; time is wall-clock per 2D slice on this machine.",
        "",
    ]
    titles = [
        "Method",
        *[title for _, title, _ in COLUMNS],
        "NPS peak c/mm",
        "NPS mean c/mm",
        "lesion edge 10-90% mm",
    ]
    lines.append("| " + " | ".join(titles) + " |")
    lines.append("|" + "---|" * len(titles))
    for name, res in results.items():
        cells = [name]
        for key, _, fmt in COLUMNS:
            mean, sd = res.mean(key), res.sd(key)
            cells.append("n/a" if not np.isfinite(mean) else fmt.format(mean) + _sd(fmt, sd, key))
        cells += [
            f"{res.nps.peak_frequency:.3f}" if res.nps else "n/a",
            f"{res.nps.mean_frequency:.3f}" if res.nps else "n/a",
            _fmt(res.lesion_edge.rise_distance_mm if res.lesion_edge else math.nan, "{:.2f}"),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    lines += ["", *_relative_lines(results), ""]
    return "\n".join(lines)


def _fmt(value: float, fmt: str) -> str:
    return fmt.format(value) if np.isfinite(value) else "n/a"


def _sd(fmt: str, sd: float, key: str) -> str:
    if key == "seconds" or not np.isfinite(sd):
        return ""
    return " ± " + fmt.format(sd)


def _relative_lines(results: dict[str, MethodResult]) -> list[str]:
    """Each method against LD (noise, CNR) and ND (NPS peak), and against BM3D (PSNR/SSIM)."""
    ld, nd = results[LD_NAME], results[ND_NAME]
    bm3d = results.get("bm3d")
    lines = ["## Against the low-dose input, the normal-dose image and BM3D", ""]
    for name, res in results.items():
        if name in (LD_NAME, ND_NAME):
            continue
        parts = [
            f"liver ROI SD {100 * (res.mean('roi_sd') / ld.mean('roi_sd') - 1):+.0f} % vs LD",
            f"CNR {res.mean('cnr') / ld.mean('cnr'):.2f}x LD",
        ]
        if res.nps and nd.nps:
            shift = 100 * (res.nps.peak_frequency / nd.nps.peak_frequency - 1)
            parts.append(f"NPS peak {shift:+.0f} % vs ND")
        if bm3d is not None and res is not bm3d:
            parts.append(f"PSNR {res.mean('psnr') - bm3d.mean('psnr'):+.2f} dB vs BM3D")
            parts.append(f"SSIM {res.mean('ssim') - bm3d.mean('ssim'):+.3f} vs BM3D")
        lines.append(f"- **{name}**: " + "; ".join(parts))
    return lines


def _plot_examples(
    results: dict[str, MethodResult],
    dataset: SimDataset,
    dose: float,
    path: Path,
    n_examples: int,
) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    picks = _example_slices(len(dataset), n_examples)
    columns = [*results, "truth"]
    fig, axes = plt.subplots(
        len(picks), len(columns), figsize=(2.6 * len(columns), 2.8 * len(picks)), squeeze=False
    )
    low, high = -150.0, 250.0  # W400/L50
    for r, index in enumerate(picks):
        sim = dataset[index]
        box = _crop_box(sim)
        for c, name in enumerate(columns):
            image = sim.truth if name == "truth" else results[name].images[index]
            ax = axes[r, c]
            ax.imshow(image[box], cmap="gray", vmin=low, vmax=high, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(name, fontsize=9)
        axes[r, 0].set_ylabel(f"seed {sim.seed}", fontsize=8)
    fig.suptitle(f"Liver crops, {dose:g} x dose, W400/L50", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _crop_box(sim: SimSlice) -> tuple[slice, slice]:
    """A square crop (~90 mm) centred on the largest lesion, or on the liver ROI."""
    ph = sim.phantom
    size = ph.hu.shape[0]
    half = max(8, int(round(45.0 / ph.pixel_spacing_mm)))
    if ph.lesions:
        centre = max(ph.lesions, key=lambda les: les.radius_mm).center_rc
    else:
        centre = tuple(np.argwhere(ph.liver_roi).mean(axis=0))
    r0 = int(np.clip(round(centre[0]) - half, 0, max(0, size - 2 * half)))
    c0 = int(np.clip(round(centre[1]) - half, 0, max(0, size - 2 * half)))
    return slice(r0, r0 + 2 * half), slice(c0, c0 + 2 * half)


def _plot_nps(results: dict[str, MethodResult], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    for name, res in results.items():
        if res.nps is not None:
            ax.plot(res.nps.frequencies, res.nps.nps, label=name)
    if not ax.lines:
        ax.text(0.5, 0.5, "no liver ROI fits at this image size", ha="center", va="center")
    else:
        ax.legend(fontsize=8)
    ax.set_xlabel("spatial frequency (cycles/mm)")
    ax.set_ylabel("NPS (HU² mm²)")
    ax.set_title("Noise power spectrum in the liver (image − truth)")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- real CT with inserted noise ---------------------------------------------------------------

# Abdominal CT slices that packages ship (pydicom-data): never used for training, so they test
# the methods on real anatomy. Low dose is made by projection-domain noise insertion.
REAL_CT_FILES = ("explicit_VR-UN.dcm",)
REAL_COLUMNS: list[tuple[str, str, str]] = [
    ("psnr_nd", "PSNR dB vs ND [-160,240]", "{:.2f}"),
    ("ssim_nd", "SSIM vs ND [-160,240]", "{:.3f}"),
    ("noise_est", "blind noise SD HU", "{:.1f}"),
    ("edge_mm", "edge 10-90% mm", "{:.2f}"),
    ("seconds", "s/slice", "{:.2f}"),
]


def real_ct_slices(names: Sequence[str] = REAL_CT_FILES) -> list[tuple[str, np.ndarray, float]]:
    """(name, HU slice, pixel spacing mm) of each available shipped real CT slice."""
    from pydicom.data import get_testdata_file

    from denoiser.dicom_io import read_series

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
    _write_real_report(rows, slices, dose, out / "real_ct.md")
    _plot_real(images, slices, dose, out / "real_ct.png")
    return rows


def _call_real(method: Method, hu: np.ndarray, spacing: float) -> np.ndarray:
    try:
        params = inspect.signature(method).parameters
    except (TypeError, ValueError):
        params = {}
    kwargs = {"pixel_spacing_mm": spacing} if "pixel_spacing_mm" in params else {}
    return np.asarray(method(hu, **kwargs), dtype=np.float32)


def _write_real_report(rows, slices, dose: float, path: Path) -> None:
    names = ", ".join(sorted({name for name, _, _ in slices}))
    lines = [
        "# Real CT with inserted noise",
        "",
        f"- Slices: {len(slices)} from pydicom-data ({names}); the original scan is the "
        f"normal-dose reference. Low dose: {dose:g} x by projection-domain noise insertion "
        "(only the missing variance is added; the flux is set from the scan's own blind noise "
        "estimate, so the inserted noise matches the scan).",
        "- No noise-free truth: PSNR/SSIM against the original; noise is the blind estimate "
        "(25th percentile of SDs of ~12 mm windows in liver-like tissue); sharpness across the "
        "body outline. Noise-driven baselines set sigma from the blind estimate.",
        "",
        "| Method | " + " | ".join(title for _, title, _ in REAL_COLUMNS) + " |",
        "|" + "---|" * (len(REAL_COLUMNS) + 1),
    ]
    for name, method_rows in rows.items():
        cells = [name]
        for key, _, fmt in REAL_COLUMNS:
            values = [r[key] for r in method_rows if np.isfinite(r[key])]
            cells.append(fmt.format(np.mean(values)) if values else "n/a")
        lines.append("| " + " | ".join(cells) + " |")
    path.write_text("\n".join(lines) + "\n")


def _plot_real(images, slices, dose: float, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(images)
    fig, axes = plt.subplots(
        len(slices), len(columns), figsize=(3.0 * len(columns), 3.2 * len(slices)), squeeze=False
    )
    for r, (name, nd, _) in enumerate(slices):
        rows_, cols_ = np.nonzero(body_mask(nd))
        cr, cc = int(rows_.mean()), int(cols_.mean())
        half = min(nd.shape) // 4
        box = (slice(max(0, cr - half), cr + half), slice(max(0, cc - half), cc + half))
        for c, method in enumerate(columns):
            ax = axes[r, c]
            ax.imshow(images[method][r][box], cmap="gray", vmin=-150, vmax=250)
            ax.set_xticks([])
            ax.set_yticks([])
            if r == 0:
                ax.set_title(method, fontsize=9)
        axes[r, 0].set_ylabel(name, fontsize=8)
    fig.suptitle(f"Real CT, {dose:g} x dose by noise insertion, W400/L50", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


# --- command line ------------------------------------------------------------------------------


def build_methods(
    names: Sequence[str],
    checkpoints: Sequence[str | None],
    *,
    device: str | None = None,
) -> dict[str, Method]:
    """Baselines by name plus one learned model per checkpoint (None: the shipped default).

    A model with a texture blend is also listed without it (the network's output alone), so
    the table shows what the blend adds and costs.
    """
    methods: dict[str, Method] = {}
    for name in names:
        if name not in BASELINES:
            raise SystemExit(f"unknown method {name!r}; choose from {sorted(BASELINES)}")
        methods[name] = BASELINES[name]
    for path in checkpoints:
        from denoiser.inference import Denoiser  # torch only when a model is evaluated

        model = Denoiser.load(path, device=device)
        label = f"{model.name} {model.version}"
        # Several checkpoints side by side (often the same name and version): say which file.
        named = path is not None and len(checkpoints) > 1
        key = f"{label} ({path})" if named or label in methods else label
        methods[key] = model.denoise
        if model.texture_share > 0:
            bare = Denoiser.load(path, device=device, texture_blend=False)
            methods[f"{key}, no texture blend"] = bare.denoise
    return methods


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m denoiser evaluate",
        description="Benchmark denoisers on held-out simulated low-dose phantoms.",
    )
    p.add_argument(
        "--checkpoint",
        action="append",
        default=None,
        help="learned model to evaluate (repeatable); default: the shipped model",
    )
    p.add_argument("--no-model", action="store_true", help="baselines only")
    p.add_argument(
        "--methods",
        default=",".join(BASELINES),
        help=f"comma-separated baselines (default: all of {','.join(BASELINES)}; '' for none)",
    )
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"default: {DEFAULT_OUT}")
    p.add_argument("--n-slices", type=int, default=DEFAULT_N_SLICES)
    p.add_argument("--size", type=int, default=DEFAULT_SIZE)
    p.add_argument("--dose", type=float, default=DEFAULT_DOSE, help="dose fraction (0.25)")
    p.add_argument("--n-views", type=int, default=None, help="default: 720 at 512 px")
    p.add_argument("--cache", type=Path, default=DEFAULT_CACHE, help="simulation cache folder")
    p.add_argument("--workers", type=int, default=1, help="processes for the simulation")
    p.add_argument("--device", default=None, help="device for learned models")
    p.add_argument("--no-real", action="store_true", help="skip the real CT slices (pydicom-data)")
    p.add_argument("--quiet", action="store_true")
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["--"]:  # ``python -m denoiser evaluate -- --flag`` passes the separator on
        argv = argv[1:]
    return p.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    names = [n.strip() for n in args.methods.split(",") if n.strip()]
    checkpoints: list[str | None] = [] if args.no_model else (args.checkpoint or [None])
    methods = build_methods(names, checkpoints, device=args.device)
    dataset = make_dataset(
        args.n_slices,
        size=args.size,
        doses=(args.dose,),
        seed=EVALUATION_SEEDS.start,
        cache_dir=args.cache,
        n_views=args.n_views,
        workers=args.workers,
        progress=not args.quiet,
    )
    command = "python -m denoiser evaluate " + " ".join(
        shlex.quote(a) for a in (sys.argv[1:] if argv is None else argv)
    )
    results = evaluate(
        methods,
        dataset,
        args.out,
        dose=args.dose,
        progress=not args.quiet,
        command=command,
        output_cache=args.cache / "outputs",
    )
    real = None if args.no_real else evaluate_real(methods, args.out, dose=args.dose)
    if not args.quiet:
        print((args.out / "results.md").read_text())
        if real is not None:
            print((args.out / "real_ct.md").read_text())
        print(f"wrote results.md, results.csv, per_slice.csv, examples.png, nps.png to {args.out}")
    return 0 if results else 1


if __name__ == "__main__":
    sys.exit(main())
