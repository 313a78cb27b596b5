"""Training data from textured phantoms of every anatomy, kernel, pixel size and dose.

``data_source = "anatomy"``: each training seed draws its scan from the seed alone (so a
slice never depends on the order of generation): the anatomy (cycled through
``cfg.anatomies``), the pixel spacing (uniform in ``spacing_range_mm``; the field of view
is ``sim_size`` times it), the reconstruction kernel (one of ``cfg.kernels``), the dose
(log-uniform in [dose_min, dose_max], so 5 % is drawn as often as 50 %) and the flux of
the protocol (I0 x 2^u, u in [-1, 1]: patients and protocols differ in their normal-dose
noise too). The projection-domain simulation of ``denoiser.ctsim`` then scans it.

Roles, as in ``denoiser.simdata``: "ld" (the LD domain: its low-dose scan and the noise-free
reconstruction, which the warm start's "truth" target uses), "nd" (the ND domain, other
phantoms at normal dose) and "val" (paired: low dose at ``val_dose``, normal dose, truth).
Every slice is cached as .npz under ``cache_dir``.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from denoiser.config import TrainConfig
from denoiser.simdata import cached_npz, training_seeds
from denoiser.training_data import PairedSlices, TrainingData


@dataclass(frozen=True)
class Scan:
    """How one phantom slice is scanned and reconstructed."""

    anatomy: str
    spacing_mm: float
    kernel: str
    dose: float
    flux_factor: float

    def key(self) -> str:
        return (
            f"{self.anatomy}_p{self.spacing_mm:.3f}_{self.kernel}"
            f"_d{self.dose:.4f}_f{self.flux_factor:.3f}"
        )


def scan_for(cfg: TrainConfig, seed: int, role: str) -> Scan:
    rng = np.random.default_rng([seed, 0xA1A7])
    lo, hi = cfg.spacing_range_mm
    dose = float(np.exp(rng.uniform(np.log(cfg.dose_min), np.log(cfg.dose_max))))
    return Scan(
        anatomy=cfg.anatomies[seed % len(cfg.anatomies)],
        spacing_mm=float(rng.uniform(lo, hi)),
        kernel=str(cfg.kernels[int(rng.integers(len(cfg.kernels)))]),
        dose={"ld": dose, "nd": 1.0, "val": cfg.val_dose}[role],
        flux_factor=float(2.0 ** rng.uniform(-1.0, 1.0)),
    )


def anatomy_slice(cfg: TrainConfig, role: str, seed: int) -> dict[str, np.ndarray]:
    """One cached slice: "ld" -> ld + truth, "nd" -> hu, "val" -> ld + nd + truth + roi."""
    from denoiser import ctsim
    from denoiser.anatomy import phantom

    scan = scan_for(cfg, seed, role)
    path = Path(cfg.cache_dir) / f"anatomy_{role}_s{seed}_n{cfg.sim_size}_{scan.key()}.npz"

    def make() -> dict[str, np.ndarray]:
        ph = phantom(scan.anatomy, cfg.sim_size, seed, scan.spacing_mm)
        series = ctsim.simulate_doses(
            ph.hu,
            [scan.dose] if role != "nd" else [],
            i0=ctsim.DEFAULT_I0 * scan.flux_factor,
            rng=np.random.default_rng([seed, 0x51]),
            pixel_spacing_mm=scan.spacing_mm,
            filter_name=scan.kernel,
            with_truth=role != "nd",
        )
        if role == "nd":
            return {"hu": series.nd}
        if role == "ld":
            return {"ld": series.ld[scan.dose], "truth": series.truth}
        out = {"ld": series.ld[scan.dose], "nd": series.nd, "truth": series.truth}
        return {**out, "liver_roi": ph.liver_roi}

    return cached_npz(path, make)


def _fill(job: tuple[TrainConfig, str, int]) -> None:
    anatomy_slice(*job)


def anatomy_training_data(cfg: TrainConfig, progress=None, workers: int = 1) -> TrainingData:
    """LD domain (with its truths), ND domain and paired validation from disjoint seeds."""
    ld_seeds, nd_seeds, val_seeds = training_seeds(cfg)
    jobs = [("ld", s) for s in ld_seeds] + [("nd", s) for s in nd_seeds]
    jobs += [("val", s) for s in val_seeds]
    if workers > 1:
        from concurrent.futures import ProcessPoolExecutor

        with ProcessPoolExecutor(max_workers=workers) as pool:
            list(pool.map(_fill, [(cfg, role, seed) for role, seed in jobs]))
    items: dict[str, list[dict[str, np.ndarray]]] = {"ld": [], "nd": [], "val": []}
    for i, (role, seed) in enumerate(jobs):
        items[role].append(anatomy_slice(cfg, role, seed))
        if progress:
            progress(i + 1, len(jobs))
    val = items["val"]
    paired = None
    if val:
        # Validation slices differ in size only if sim_size changed mid-run; one size here.
        paired = PairedSlices(
            ld=np.stack([v["ld"] for v in val]),
            nd=np.stack([v["nd"] for v in val]),
            liver_rois=[v["liver_roi"] for v in val],
            truth=np.stack([v["truth"] for v in val]),
        )
    return TrainingData(
        ld=[x["ld"] for x in items["ld"]],
        nd=[x["hu"] for x in items["nd"]],
        val=paired,
        pairs=[(x["truth"], x["ld"]) for x in items["ld"]],
    )
