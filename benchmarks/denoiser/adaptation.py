"""Does per-case self-supervised adaptation (denoiser.adapt) lift a phantom-trained model
on real anatomy? Every real CT slice that pydicom and pydicom-data ship, quarter dose by
noise insertion, the original as the reference: the model as shipped (no texture blend)
against the same model after N steps of R2R on the low-dose slice itself.

    python benchmarks/denoiser/adaptation.py [--checkpoint PATH] [--iterations 100,300]

Writes benchmarks/denoiser/results/general/adaptation.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
from pathlib import Path

import numpy as np
import torch

from denoiser import metrics as M
from denoiser.adapt import Adaptation, adapt
from denoiser.ctsim import insert_noise
from denoiser.evaluation.general import REAL_SLICES
from denoiser.evaluation.real import body_mask, liver_like_tissue, real_ct_slices
from denoiser.inference import Denoiser

OUT = Path("benchmarks/denoiser/results/general/adaptation.md")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", default=None)
    ap.add_argument("--iterations", default="100,300")
    ap.add_argument("--threads", type=int, default=1)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    steps = [int(x) for x in args.iterations.split(",")]
    model = Denoiser.load(args.checkpoint, texture_blend=False)
    rows = []
    for number, (name, nd, spacing) in enumerate(real_ct_slices(tuple(REAL_SLICES))):
        lo, hi = REAL_SLICES[name]
        window = M.Window(f"[{lo:g},{hi:g}] HU", lo, hi)
        body = body_mask(nd)
        tissue = liver_like_tissue(nd, body, spacing)
        ld = insert_noise(
            nd,
            0.25,
            rng=number,
            pixel_spacing_mm=spacing,
            nd_noise_sd=M.estimate_noise_sd(nd, spacing),
            noise_roi=tissue if tissue.sum() >= 50 else None,
        )
        row = {"slice": f"{name} #{number}", "ld": M.psnr(ld, nd, window)}
        row["shipped"] = M.psnr(model.denoise(ld), nd, window)
        for n in steps:
            adapted, seconds = adapt(model, ld, Adaptation(iterations=n))
            row[f"adapted {n}"] = M.psnr(adapted.denoise(ld), nd, window)
            row[f"seconds {n}"] = seconds
        rows.append(row)
        print(row, flush=True)
    lines = [
        "# Per-case adaptation on real CT (quarter dose by noise insertion)",
        "",
        f"Measured {dt.date.today()} on this machine (CPU, {args.threads} thread), model "
        f"{model.name} {model.version} without its texture blend. PSNR dB against the original "
        "scan in the anatomy's window. Reproduce: `python benchmarks/denoiser/adaptation.py`.",
        "",
        "| slice | LD | shipped | " + " | ".join(f"adapted {n} steps (s)" for n in steps) + " |",
        "|---|---|---|" + "---|" * len(steps),
    ]
    for r in rows:
        cells = [f"{r[f'adapted {n}']:.2f} ({r[f'seconds {n}']:.0f} s)" for n in steps]
        lines.append(
            f"| {r['slice']} | {r['ld']:.2f} | {r['shipped']:.2f} | " + " | ".join(cells) + " |"
        )
    gains = {n: np.mean([r[f"adapted {n}"] - r["shipped"] for r in rows]) for n in steps}
    lines += [
        "",
        "Mean change against the shipped model: "
        + ", ".join(f"{n} steps {g:+.2f} dB" for n, g in gains.items()),
        "",
    ]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(lines))
    print(OUT.read_text())


if __name__ == "__main__":
    main()
