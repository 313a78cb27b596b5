"""Could a linear filter meet the noise goal and the texture goal at once? An oracle test.

The benchmark asks for both: liver noise SD at most half of LD's and an NPS peak within 25 %
of ND's. This script measures, in the benchmark's own liver ROIs (45 mm, pooled over the 20
held-out slices), the truth's power spectrum S and the LD noise's N, and prints by frequency
band, as a share of LD's noise power:

- the oracle Wiener filter's residual, ``S N / (S + N)``: the least error of any linear
  shift-invariant filter, given the true spectra (an oracle, not a method);
- the cheapest linear residual whose peak sits within 25 % of ND's: Wiener everywhere, with
  the band from 0.75 x ND's peak to 0.30 c/mm (ND's flat-topped texture band) raised to the
  highest Wiener residual below it (a peak has to stand above everything coarser);

with, for each, the residual SD as a share of LD's (the goal: at most 0.50) and the NPS peak.
The liver's truth holds vessels, lesions and edges besides its Gaussian texture, so S at low
frequencies is large and a non-linear denoiser can beat the Wiener filter there (it knows
what a vessel looks like): the rows tell what a linear filter cannot do and how far a
denoiser must beat it, not a bound for every method. ``--checkpoint`` adds models' rows.

    python benchmarks/denoiser/texture_bound.py --checkpoint denoiser/weights/default.pt
"""

from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
from nps_bands import BANDS_CPMM, heldout_set  # noqa: E402

from denoiser import Denoiser  # noqa: E402
from denoiser import metrics as M  # noqa: E402
from denoiser.evaluation import simulated as ev  # noqa: E402

TOP_OF_RAISED_BAND = 0.30  # c/mm: ND's texture band (its NPS is flat-topped to about here)


def radial_nps(images, masks, spacing, roi, reference=None) -> M.NoisePowerSpectrum:
    return M.noise_power_spectrum(images, spacing, mask=masks, reference=reference, roi_size=roi)


def summary(name: str, f: np.ndarray, r: np.ndarray, n: np.ndarray, weights: np.ndarray) -> str:
    """Band shares of LD's noise, SD share (annulus-weighted) and the peak, as one table row."""
    shares = [
        r[(f > lo) & (f <= hi)].mean() / n[(f > lo) & (f <= hi)].mean() for lo, hi in BANDS_CPMM
    ]
    sd = np.sqrt((r * weights).sum() / (n * weights).sum())
    peak = M._peak_frequency(f, r)  # the benchmark's own peak estimate
    cells = " | ".join(f"{s:.2f}" for s in shares)
    return f"| {name} | {cells} | {sd:.2f} | {peak:.3f} |"


def raised_to_peak(
    f: np.ndarray, wiener: np.ndarray, noise: np.ndarray, nd_peak: float, top: float
) -> np.ndarray:
    """Wiener, with the band [0.75 nd_peak, top] c/mm lifted to the highest residual below it
    (never above the input's noise: a filter between Wiener and the identity)."""
    low = 0.75 * nd_peak
    level = 1.02 * wiener[(f > 0) & (f < low)].max()
    band = (f >= low) & (f <= top)
    out = wiener.copy()
    out[band] = np.minimum(np.maximum(wiener[band], level), noise[band])
    return out


def narrowest_raise(f, wiener, noise, nd_peak, weights) -> tuple[float, np.ndarray]:
    """The lifted band (its top, c/mm) of least variance whose smoothed peak meets the goal."""
    best = None
    for top in f[f >= 0.75 * nd_peak]:
        r = raised_to_peak(f, wiener, noise, nd_peak, top)
        if M._peak_frequency(f, r) >= 0.75 * nd_peak:
            var = float((r * weights).sum())
            if best is None or var < best[0]:
                best = (var, top, r)
    if best is None:
        raise ValueError("no lifted band puts the peak within 25 % of ND's")
    return best[1], best[2]


def main() -> None:
    args, ds, sims = heldout_set(__doc__.splitlines()[0])
    spacing = ds.pixel_spacing_mm
    masks = np.stack([s.phantom.liver for s in sims])
    truth = np.stack([s.truth for s in sims])
    ld = np.stack([s.ld[args.dose] for s in sims])
    roi = max(16, int(round(ev.NPS_ROI_MM / spacing)))
    signal = radial_nps(truth, masks, spacing, roi)
    noise = radial_nps(ld, masks, spacing, roi, truth)
    nd = radial_nps(np.stack([s.nd for s in sims]), masks, spacing, roi, truth)
    f = noise.frequencies
    # Pixels per annulus weight the radial spectra into a variance (Parseval).
    n = roi
    fy, fx = np.meshgrid(np.fft.fftfreq(n, spacing), np.fft.fftfreq(n, spacing), indexing="ij")
    bins = np.rint(np.hypot(fy, fx) * n * spacing).astype(int)
    weights = np.bincount(bins.ravel(), minlength=len(f))[: len(f)].astype(float)
    # Wiener in 2D, then radially averaged like every other spectrum here.
    s2, n2 = signal.nps_2d, noise.nps_2d
    wiener_2d = s2 * n2 / np.maximum(s2 + n2, 1e-30)
    _, wiener = M._radial_average(wiener_2d, spacing)
    rows = {
        "LD": noise.nps,
        "ND": nd.nps,
        "oracle Wiener filter": wiener,
        "oracle Wiener + grain across ND's texture band (0.15-0.30 c/mm)": raised_to_peak(
            f, wiener, noise.nps, nd.peak_frequency, TOP_OF_RAISED_BAND
        ),
    }
    top, narrow = narrowest_raise(f, wiener, noise.nps, nd.peak_frequency, weights)
    low = 0.75 * nd.peak_frequency
    rows[f"oracle Wiener + the narrowest grain band that moves the peak ({low:.2f}-{top:.2f})"] = (
        narrow
    )
    for path in args.checkpoint:
        out = Denoiser.load(path, device=args.device).denoise(ld)
        rows[path] = radial_nps(out, masks, spacing, roi, truth).nps
    head = " | ".join(f"{lo:.2f}-{min(hi, 0.5 / spacing):.2f}" for lo, hi in BANDS_CPMM)
    print(f"| residual | {head} c/mm | SD / LD's | NPS peak c/mm |\n|---|" + "---|" * 7)
    for name, r in rows.items():
        print(summary(name, f, r, noise.nps, weights))


if __name__ == "__main__":
    main()
