"""The benchmark's figures: liver crops of every method, noise power spectra, real CT crops.

matplotlib is imported inside each function (Agg backend), so importing the benchmark needs no
display and no plotting library until a figure is drawn.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    from denoiser.ctsim import SimDataset, SimSlice
    from denoiser.evaluation.methods import MethodResult


def plot_examples(
    results: dict[str, MethodResult],
    dataset: SimDataset,
    dose: float,
    path: Path,
    n_examples: int,
) -> None:
    """Liver crops of ``n_examples`` slices spread over the set: every method, then the truth."""
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


def plot_nps(results: dict[str, MethodResult], path: Path) -> None:
    """The pooled liver noise power spectrum of every method in one chart."""
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


def _example_slices(n: int, k: int) -> list[int]:
    return sorted({int(round(i)) for i in np.linspace(0, n - 1, k)}) if n and k else []


def plot_real(images, slices, boxes, dose: float, path: Path) -> None:
    """One row per real CT slice, one column per method, each cropped to its box."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    columns = list(images)
    fig, axes = plt.subplots(
        len(slices), len(columns), figsize=(3.0 * len(columns), 3.2 * len(slices)), squeeze=False
    )
    for r, ((name, _, _), box) in enumerate(zip(slices, boxes, strict=True)):
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
