"""Where in frequency does each denoiser leave the noise? NPS by band, as a share of LD's.

The benchmark's NPS peak says where the remaining noise is strongest, not which noise was
removed. This script averages the radial liver NPS of ``image - truth`` (the benchmark's own:
45 mm ROIs pooled over the 20 held-out slices) over frequency bands and divides each band's
mean by the LD input's. Models run on the CPU in fp32 (``--device`` to change). Normal dose
sits at about 0.22 in every band (a quarter of the dose); a denoiser with ND's texture at
half LD's noise would sit near 0.25 everywhere.

    python benchmarks/denoiser/nps_bands.py --checkpoint denoiser/weights/default.pt \
        --checkpoint denoiser/runs/warm/generator.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from denoiser import Denoiser  # noqa: E402
from denoiser import metrics as M  # noqa: E402
from denoiser.ctsim import make_dataset  # noqa: E402
from denoiser.evaluation import simulated as ev  # noqa: E402
from denoiser.seeds import EVALUATION_SEEDS  # noqa: E402

BANDS_CPMM = [(0.0, 0.06), (0.06, 0.10), (0.10, 0.15), (0.15, 0.30), (0.30, 1.0)]


def band_means(images: np.ndarray, sims, spacing: float) -> list[float]:
    masks = np.stack([s.phantom.liver for s in sims])
    truth = np.stack([s.truth for s in sims])
    roi = max(16, int(round(ev.NPS_ROI_MM / spacing)))
    nps = M.noise_power_spectrum(images, spacing, mask=masks, reference=truth, roi_size=roi)
    f = nps.frequencies
    return [float(nps.nps[(f > lo) & (f <= hi)].mean()) for lo, hi in BANDS_CPMM]


def heldout_set(description: str):
    """Parse the held-out set's options (and ``--checkpoint``); return (args, dataset, slices)."""
    ap = argparse.ArgumentParser(description=description)
    ap.add_argument("--checkpoint", action="append", default=[], help="repeatable")
    ap.add_argument("--cache", type=Path, default=ROOT / "denoiser/runs/eval-cache")
    ap.add_argument("--n-slices", type=int, default=ev.DEFAULT_N_SLICES)
    ap.add_argument("--dose", type=float, default=ev.DEFAULT_DOSE)
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args()
    ds = make_dataset(
        args.n_slices, doses=(args.dose,), seed=EVALUATION_SEEDS.start, cache_dir=args.cache
    )
    return args, ds, list(ds)


def main() -> None:
    args, ds, sims = heldout_set(__doc__.splitlines()[0])
    ld = np.stack([s.ld[args.dose] for s in sims])
    images = {"LD": ld, "ND": np.stack([s.nd for s in sims])}
    for path in args.checkpoint:
        images[path] = Denoiser.load(path, device=args.device).denoise(ld)
    rows = {name: band_means(im, sims, ds.pixel_spacing_mm) for name, im in images.items()}
    head = " | ".join(f"{lo:.2f}-{min(hi, 0.5 / ds.pixel_spacing_mm):.2f}" for lo, hi in BANDS_CPMM)
    print(f"| image | {head} c/mm |\n|---|" + "---|" * len(BANDS_CPMM))
    for name, values in rows.items():
        cells = " | ".join(f"{v:.0f} ({v / rows['LD'][i]:.2f})" for i, v in enumerate(values))
        print(f"| {name} | {cells} |")


if __name__ == "__main__":
    main()
