"""Is the benchmark's NPS texture or bias? Two noise realisations against image - truth.

``python -m denoiser evaluate`` measures the NPS of ``image - truth`` in liver ROIs. For a
non-linear denoiser that difference holds its systematic error as well as its noise. The
standard way to isolate noise (AAPM TG-233) is to subtract two scans of the same object:
``(a - b) / sqrt(2)``. This script scans each held-out phantom a second time (another noise
realisation, cached), denoises both and prints both peaks per method.

    python benchmarks/denoiser/nps_check.py --checkpoint denoiser/weights/default.pt \
        --checkpoint denoiser/runs/warm/generator.pt
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402

from denoiser import Denoiser, ctsim  # noqa: E402
from denoiser import metrics as M  # noqa: E402
from denoiser.evaluation import simulated as ev  # noqa: E402
from denoiser.seeds import EVALUATION_SEEDS  # noqa: E402


def second_scans(sims, dose: float, spacing: float, cache: Path) -> tuple[np.ndarray, np.ndarray]:
    """(LD, ND) of every phantom with a noise realisation independent of the benchmark's."""
    cache.mkdir(parents=True, exist_ok=True)
    ld, nd = [], []
    for sim in sims:
        path = cache / f"seed{sim.seed}-dose{dose:.4f}.npz"
        if not path.exists():
            series = ctsim.simulate_doses(
                sim.phantom.hu,
                [dose],
                rng=np.random.default_rng([sim.seed, 0x22]),
                pixel_spacing_mm=spacing,
                with_truth=False,
            )
            np.savez_compressed(path, ld=series.ld[dose], nd=series.nd)
        with np.load(path) as z:
            ld.append(z["ld"])
            nd.append(z["nd"])
    return np.stack(ld), np.stack(nd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--checkpoint", action="append", default=[])
    ap.add_argument("--cache", type=Path, default=ROOT / "denoiser" / "runs" / "eval-cache")
    ap.add_argument("--dose", type=float, default=0.25)
    ap.add_argument("--n-slices", type=int, default=20)
    args = ap.parse_args()
    dataset = ev.make_dataset(
        args.n_slices,
        size=512,
        doses=(args.dose,),
        seed=EVALUATION_SEEDS.start,
        cache_dir=args.cache,
    )
    sims = list(dataset)
    spacing = dataset.pixel_spacing_mm
    ld2, nd2 = second_scans(sims, args.dose, spacing, args.cache / "second-scans")
    ld1 = np.stack([s.ld[args.dose] for s in sims])
    nd1 = np.stack([s.nd for s in sims])
    truth = dataset.stack("truth")
    masks = np.stack([s.phantom.liver for s in sims])
    roi = max(16, int(round(ev.NPS_ROI_MM / spacing)))

    def report(name: str, a: np.ndarray, b: np.ndarray) -> None:
        sub = M.noise_power_spectrum((a - b) / np.sqrt(2), spacing, mask=masks, roi_size=roi)
        err = M.noise_power_spectrum(a, spacing, mask=masks, reference=truth, roi_size=roi)
        print(
            f"| {name} | {sub.peak_frequency:.3f} | {np.sqrt(sub.variance):.1f} "
            f"| {err.peak_frequency:.3f} | {np.sqrt(err.variance):.1f} |"
        )

    print("| method | NPS peak c/mm, two scans | SD HU | NPS peak c/mm, image - truth | SD HU |")
    print("|---|---|---|---|---|")
    report("LD", ld1, ld2)
    report("ND", nd1, nd2)
    for path in args.checkpoint:
        model = Denoiser.load(path, device="cpu")
        report(f"{model.name} {model.version}", model.denoise(ld1), model.denoise(ld2))


if __name__ == "__main__":
    main()
