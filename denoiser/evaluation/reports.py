"""The benchmark's tables: Markdown for people, CSV for analysis."""

from __future__ import annotations

import csv
import math
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from denoiser.ctsim import DEFAULT_ELECTRONIC_NOISE, DEFAULT_I0
from denoiser.evaluation.methods import LD_NAME, ND_NAME
from denoiser.seeds import EVALUATION_SEEDS

if TYPE_CHECKING:
    from denoiser.ctsim import SimDataset
    from denoiser.evaluation.methods import MethodResult

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
# The real-CT table: no noise-free truth exists there, so fidelity is against the original scan
# and noise is a blind estimate.
REAL_COLUMNS: list[tuple[str, str, str]] = [
    ("psnr_nd", "PSNR dB vs ND [-160,240]", "{:.2f}"),
    ("ssim_nd", "SSIM vs ND [-160,240]", "{:.3f}"),
    ("noise_est", "blind noise SD HU", "{:.1f}"),
    ("edge_mm", "edge 10-90% mm", "{:.2f}"),
    ("seconds", "s/slice", "{:.2f}"),
]


def write_tables(
    results: dict[str, MethodResult],
    dataset: SimDataset,
    dose: float,
    out: Path,
    *,
    command: str | None = None,
) -> None:
    """``per_slice.csv``, ``results.csv`` and ``results.md`` of the simulated benchmark."""
    _write_per_slice_csv(results, out / "per_slice.csv")
    _write_summary_csv(results, out / "results.csv")
    (out / "results.md").write_text(_markdown(results, dataset, dose, command))


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


def write_real_table(rows, slices, dose: float, path: Path) -> None:
    """``real_ct.md``: the mean of each column per method on the real CT slices."""
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
