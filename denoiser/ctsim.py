"""Projection-domain low-dose CT simulation (parallel beam, skimage radon/iradon).

Why projection domain: FBP noise is not white. It is shaped by the ramp filter and the
reconstruction kernel (band-pass, correlated, streaky near bone and gas), and its variance
depends on the attenuation along each ray. Adding white noise to an image gets all of that wrong.

Model, per detector element and view:

    mu = MU_WATER * (1 + HU / 1000)                 attenuation, 1/mm
    p = integral of mu along the ray                line integral (radon x pixel spacing)
    counts ~ Poisson(f * I0 * exp(-p)) + Normal(0, sigma_e)
    p_noisy = -ln(max(counts, eps) / (f * I0))
    HU = 1000 * (FBP_hann(p_noisy) / MU_WATER - 1)

``f`` is the dose fraction relative to normal dose. Normal dose is itself noisy (``f = 1``):
training and evaluation compare against a realistic normal-dose image, not a noise-free one.
``simulate_pair`` derives the low-dose counts from the normal-dose counts by binomial thinning,
which is exactly Poisson(f * I0 * exp(-p)) and keeps the pair correlated like clinical
noise-insertion data (the low-dose image = the normal-dose image + extra noise).

Flux convention: ``i0`` is photons per detector element per view in the reference geometry
(0.7 mm elements, 720 views over 180 degrees). The simulator scales it to the actual element
width (= pixel spacing) and view count, so the total dose and the image noise stay the same when
you simulate with fewer views for speed.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from skimage.transform import iradon, radon

from denoiser.kernels import SKIMAGE_KERNELS, check_kernel, filter_sinogram
from denoiser.phantoms import DEFAULT_FOV_MM, Lesion, Phantom, abdominal_phantom
from denoiser.seeds import EVALUATION_SEEDS

MU_WATER_PER_MM = 0.019  # linear attenuation of water at ~70 keV effective energy
REF_PIXEL_MM = 0.7
REF_VIEWS = 720
# Normal-dose flux: gives ~10-12 HU noise SD in phantom liver at 512x512 / 0.7 mm / Hann
# (measured; see tests and the model card), close to clinical portal-venous abdomen scans.
DEFAULT_I0 = 7e5
DEFAULT_ELECTRONIC_NOISE = 10.0  # counts SD (TIGRE demo value)
DEFAULT_FILTER = "hann"
COUNT_FLOOR = 1.0  # eps in -ln(max(counts, eps)): photon starvation floor, in counts


def hu_to_mu(hu: np.ndarray) -> np.ndarray:
    """Hounsfield units to linear attenuation (1/mm); negative attenuation is unphysical."""
    return np.clip(MU_WATER_PER_MM * (1.0 + np.asarray(hu, dtype=np.float64) / 1000.0), 0, None)


def mu_to_hu(mu: np.ndarray) -> np.ndarray:
    return 1000.0 * (np.asarray(mu) / MU_WATER_PER_MM - 1.0)


def default_n_views(size: int) -> int:
    """720 views at 512, proportionally fewer for smaller images (at least 64)."""
    return max(64, int(round(size * REF_VIEWS / 512)))


def view_angles(n_views: int) -> np.ndarray:
    return np.linspace(0.0, 180.0, n_views, endpoint=False)


def flux_per_element(i0: float, pixel_spacing_mm: float, n_views: int) -> float:
    """Photons per element per view that deliver the reference dose ``i0`` in this geometry."""
    return i0 * (pixel_spacing_mm / REF_PIXEL_MM) * (REF_VIEWS / n_views)


def project(hu: np.ndarray, pixel_spacing_mm: float, n_views: int) -> np.ndarray:
    """Line integrals (dimensionless) of a square HU image; rows = detector, cols = views.

    Everything outside the inscribed circle must be air, as the parallel-beam projector assumes.
    """
    _check_square(hu)
    mu = hu_to_mu(hu).astype(np.float32)
    return radon(mu, view_angles(n_views), circle=True) * pixel_spacing_mm


def reconstruct(
    line_integrals: np.ndarray,
    pixel_spacing_mm: float,
    filter_name: str = DEFAULT_FILTER,
) -> np.ndarray:
    """Filtered back-projection of line integrals to HU (float32), with one of
    ``denoiser.kernels.KERNELS`` as the reconstruction kernel."""
    n_views = line_integrals.shape[1]
    sinogram = line_integrals / pixel_spacing_mm
    check_kernel(filter_name)
    if filter_name not in SKIMAGE_KERNELS:
        # A kernel scikit-image does not know: filter here, back-project unfiltered.
        sinogram, filter_name = filter_sinogram(sinogram, filter_name), None
    mu = iradon(sinogram, view_angles(n_views), filter_name=filter_name, circle=True)
    return mu_to_hu(mu).astype(np.float32)


def measure_counts(
    line_integrals: np.ndarray,
    flux: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Detected photon numbers, Poisson(flux * exp(-p)), before electronic noise."""
    return rng.poisson(flux * np.exp(-line_integrals)).astype(np.float64)


def counts_to_line_integrals(
    photons: np.ndarray,
    flux: float,
    electronic_noise: float,
    rng: np.random.Generator,
) -> np.ndarray:
    """Add detector electronic noise and take the log, with a floor against photon starvation."""
    counts = photons + rng.normal(0.0, electronic_noise, size=photons.shape)
    return -np.log(np.maximum(counts, COUNT_FLOOR) / flux)


def simulate_dose(
    hu: np.ndarray,
    dose_fraction: float,
    *,
    i0: float = DEFAULT_I0,
    electronic_noise: float = DEFAULT_ELECTRONIC_NOISE,
    n_views: int | None = None,
    rng: np.random.Generator | int | None = None,
    pixel_spacing_mm: float = REF_PIXEL_MM,
    filter_name: str = DEFAULT_FILTER,
) -> np.ndarray:
    """Reconstruct ``hu`` (a noise-free object) as scanned at ``dose_fraction`` of normal dose.

    Use ``dose_fraction=1`` for a normal-dose image. For a normal-dose/low-dose pair of the same
    object use ``simulate_pair``; for an image that is already a noisy normal-dose scan use
    ``insert_noise``.
    """
    _check_dose(dose_fraction)
    rng = np.random.default_rng(rng)
    n_views = n_views or default_n_views(hu.shape[0])
    flux = dose_fraction * flux_per_element(i0, pixel_spacing_mm, n_views)
    p = project(hu, pixel_spacing_mm, n_views)
    photons = measure_counts(p, flux, rng)
    return reconstruct(
        counts_to_line_integrals(photons, flux, electronic_noise, rng),
        pixel_spacing_mm,
        filter_name,
    )


@dataclass
class DoseSeries:
    """One object scanned at normal dose and at several lower doses (correlated noise)."""

    truth: np.ndarray  # FBP of the noise-free sinogram: the object at the system's resolution
    nd: np.ndarray
    ld: dict[float, np.ndarray]


def simulate_doses(
    clean_hu: np.ndarray,
    dose_fractions: tuple[float, ...] | list[float],
    *,
    i0: float = DEFAULT_I0,
    electronic_noise: float = DEFAULT_ELECTRONIC_NOISE,
    n_views: int | None = None,
    rng: np.random.Generator | int | None = None,
    pixel_spacing_mm: float = REF_PIXEL_MM,
    filter_name: str = DEFAULT_FILTER,
    with_truth: bool = True,
) -> DoseSeries:
    """Normal-dose scan of ``clean_hu`` plus low-dose versions derived by photon thinning.

    One projection serves every dose. Each low dose keeps each normal-dose photon with
    probability f (binomial thinning), which is exactly Poisson(f * I0 * exp(-p)) and makes the
    low-dose image the normal-dose image plus extra noise, as in clinical noise insertion.
    Electronic noise is independent per scan. ``truth`` (noise-free FBP) costs one more FBP.
    """
    for f in dose_fractions:
        _check_dose(f)
    rng = np.random.default_rng(rng)
    # Each dose gets its own stream keyed by the dose, so the image at 25% is the same whether
    # or not 10% was asked for in the same call.
    dose_key = int(rng.integers(2**62))
    n_views = n_views or default_n_views(clean_hu.shape[0])
    flux = flux_per_element(i0, pixel_spacing_mm, n_views)
    p = project(clean_hu, pixel_spacing_mm, n_views)
    photons = measure_counts(p, flux, rng)
    nd = reconstruct(
        counts_to_line_integrals(photons, flux, electronic_noise, rng),
        pixel_spacing_mm,
        filter_name,
    )
    ld = {}
    photons_int = photons.astype(np.int64)
    for f in dose_fractions:
        dose_rng = np.random.default_rng([dose_key, int(round(f * 1e6))])
        kept = dose_rng.binomial(photons_int, f).astype(np.float64)
        ld[float(f)] = reconstruct(
            counts_to_line_integrals(kept, f * flux, electronic_noise, dose_rng),
            pixel_spacing_mm,
            filter_name,
        )
    truth = reconstruct(p, pixel_spacing_mm, filter_name) if with_truth else None
    return DoseSeries(truth=truth, nd=nd, ld=ld)


def simulate_pair(
    clean_hu: np.ndarray,
    dose_fraction: float,
    **kwargs,
) -> tuple[np.ndarray, np.ndarray]:
    """(normal-dose, low-dose) reconstructions of a noise-free object; see ``simulate_doses``."""
    series = simulate_doses(clean_hu, [dose_fraction], with_truth=False, **kwargs)
    return series.nd, series.ld[float(dose_fraction)]


def insert_noise(
    nd_hu: np.ndarray,
    dose_fraction: float,
    *,
    i0: float = DEFAULT_I0,
    electronic_noise: float = DEFAULT_ELECTRONIC_NOISE,
    n_views: int | None = None,
    rng: np.random.Generator | int | None = None,
    pixel_spacing_mm: float = REF_PIXEL_MM,
    filter_name: str = DEFAULT_FILTER,
    nd_noise_sd: float | None = None,
    noise_roi: np.ndarray | None = None,
) -> np.ndarray:
    """Lower the dose of an image that already carries normal-dose noise.

    Only the missing variance is added (Yu et al. 2012 style): reprojecting the image estimates
    the line integrals p; the extra log-domain variance from normal dose to dose f is
        (1/f - 1) / N + sigma_e^2 (1/f^2 - 1) / N^2,   N = I0 exp(-p),
    which is drawn as Gaussian noise, reconstructed alone (FBP is linear) and added to the image.
    ``i0`` must describe the normal-dose scan the image came from. For a real scan whose flux
    is unknown, pass its measured noise SD in soft tissue as ``nd_noise_sd`` (e.g.
    ``metrics.estimate_noise_sd``) and where it was measured as ``noise_roi`` (default: all
    soft tissue, -150..250 HU): the flux is then scaled so that simulated normal-dose noise has
    that SD there (electronic noise scaled along, keeping its share), and the inserted noise
    is consistent with the scan's own (quarter dose about doubles it). Noise varies across the
    body, so the ROI matters.
    """
    _check_dose(dose_fraction)
    rng = np.random.default_rng(rng)
    n_views = n_views or default_n_views(nd_hu.shape[0])
    flux = flux_per_element(i0, pixel_spacing_mm, n_views)
    outside = ~_inscribed_circle(nd_hu.shape[0])
    # Real scans may have table or clothing outside the scanner circle; the projector only sees
    # the circle, and only the line integrals' size matters here, so that part counts as air.
    inside_only = np.where(outside, -1000.0, np.asarray(nd_hu, dtype=np.float64))
    p = np.clip(project(inside_only, pixel_spacing_mm, n_views), 0.0, None)
    if nd_noise_sd is not None:
        region = noise_roi if noise_roi is not None else (nd_hu > -150) & (nd_hu < 250)
        calibrated = _calibrated_flux(
            p, flux, nd_noise_sd, region & ~outside, pixel_spacing_mm, rng
        )
        # Keep electronic noise in the same proportion to photon noise as at the nominal flux:
        # the calibration rescales the unknown measurement, not the detector's quality.
        electronic_noise *= np.sqrt(calibrated / flux)
        flux = calibrated
    expected = np.maximum(flux * np.exp(-p), COUNT_FLOOR)
    f = dose_fraction
    extra_var = (1 / f - 1) / expected + electronic_noise**2 * (1 / f**2 - 1) / expected**2
    noise = rng.normal(0.0, 1.0, size=p.shape) * np.sqrt(extra_var)
    n_hu = reconstruct(noise, pixel_spacing_mm, filter_name) + 1000.0  # HU of a zero-mean mu
    out = np.asarray(nd_hu, dtype=np.float32) + n_hu
    out[outside] = nd_hu[outside]
    return out.astype(np.float32)


def _calibrated_flux(
    p: np.ndarray,
    flux: float,
    target_sd: float,
    region: np.ndarray,
    pixel_spacing_mm: float,
    rng: np.random.Generator,
) -> float:
    """Flux at which simulated normal-dose noise has ``target_sd`` inside ``region``.

    Photon noise variance scales as 1/flux, so one noise-only reconstruction at the nominal flux
    gives the factor (electronic noise is ignored here: it matters only in starved rays).
    """
    if target_sd <= 0:
        raise ValueError(f"nd_noise_sd must be positive, got {target_sd}")
    if region.sum() < 50:
        raise ValueError("too few pixels in the noise ROI to calibrate the noise level")
    expected = np.maximum(flux * np.exp(-p), COUNT_FLOOR)
    noise = rng.normal(0.0, 1.0, size=p.shape) / np.sqrt(expected)
    noise_hu = reconstruct(noise, pixel_spacing_mm) + 1000.0
    return flux * (float(noise_hu[region].std()) / target_sd) ** 2


def _inscribed_circle(size: int) -> np.ndarray:
    """The reconstruction circle exactly as skimage's radon/iradon define it."""
    yy, xx = np.ogrid[:size, :size]
    return (yy - size // 2) ** 2 + (xx - size // 2) ** 2 <= (size // 2) ** 2


def _check_square(image: np.ndarray) -> None:
    if image.ndim != 2 or image.shape[0] != image.shape[1]:
        raise ValueError(f"expected a square 2D image, got shape {image.shape}")


def _check_dose(f: float) -> None:
    if not 0.0 < f <= 1.0:
        raise ValueError(f"dose fraction must be in (0, 1], got {f}")


# --- Simulated phantom datasets, cached on disk -------------------------------------------------

SIM_CACHE_VERSION = 1


@dataclass
class SimSlice:
    """One phantom slice scanned at normal dose and at each low dose of the dataset.

    ``truth`` (noise-free FBP) is the reference for PSNR/SSIM: it has the system's resolution,
    which no denoiser can exceed. ``phantom.hu`` is the object before scanning.
    """

    seed: int
    phantom: Phantom
    truth: np.ndarray
    nd: np.ndarray
    ld: dict[float, np.ndarray]


@dataclass
class SimDataset:
    slices: list[SimSlice]
    doses: tuple[float, ...]
    size: int
    pixel_spacing_mm: float

    def __len__(self) -> int:
        return len(self.slices)

    def __iter__(self) -> Iterator[SimSlice]:
        return iter(self.slices)

    def __getitem__(self, index: int) -> SimSlice:
        return self.slices[index]

    def stack(self, kind: str, dose: float | None = None) -> np.ndarray:
        """(n, H, W) float32 of ``"truth"``, ``"nd"``, ``"clean"`` (phantom) or ``"ld"`` at dose."""
        if kind == "ld":
            if dose is None:
                raise ValueError("stack('ld') needs a dose")
            return np.stack([s.ld[float(dose)] for s in self.slices])
        if kind == "clean":
            return np.stack([s.phantom.hu for s in self.slices])
        return np.stack([getattr(s, kind) for s in self.slices])


@dataclass(frozen=True)
class SimConfig:
    size: int = 512
    doses: tuple[float, ...] = (0.25,)
    n_views: int | None = None
    i0: float = DEFAULT_I0
    electronic_noise: float = DEFAULT_ELECTRONIC_NOISE
    filter_name: str = DEFAULT_FILTER

    def cache_key(self) -> str:
        doses = ",".join(f"{d:g}" for d in sorted(self.doses))
        text = (
            f"v{SIM_CACHE_VERSION}|{self.size}|{doses}|{self.views}|{self.i0:g}|"
            f"{self.electronic_noise:g}|{self.filter_name}"
        )
        return hashlib.sha256(text.encode()).hexdigest()[:10]

    @property
    def views(self) -> int:
        return self.n_views or default_n_views(self.size)


def simulate_slice(seed: int, config: SimConfig) -> SimSlice:
    """Phantom ``seed`` scanned at normal dose and every dose of ``config`` (deterministic)."""
    phantom = abdominal_phantom(config.size, seed=seed)
    series = simulate_doses(
        phantom.hu,
        config.doses,
        i0=config.i0,
        electronic_noise=config.electronic_noise,
        n_views=config.views,
        rng=np.random.default_rng([seed, config.size, config.views, 0x51]),
        pixel_spacing_mm=phantom.pixel_spacing_mm,
        filter_name=config.filter_name,
    )
    return SimSlice(seed=seed, phantom=phantom, truth=series.truth, nd=series.nd, ld=series.ld)


def make_dataset(
    n: int,
    size: int = 512,
    doses: tuple[float, ...] | list[float] = (0.25,),
    seed: int = EVALUATION_SEEDS.start,
    *,
    cache_dir: str | os.PathLike | None = None,
    n_views: int | None = None,
    i0: float = DEFAULT_I0,
    electronic_noise: float = DEFAULT_ELECTRONIC_NOISE,
    filter_name: str = DEFAULT_FILTER,
    workers: int = 1,
    progress: bool = False,
) -> SimDataset:
    """``n`` phantom slices with seeds ``seed .. seed + n - 1``, simulated at ``doses``.

    With ``cache_dir`` each slice is stored as one .npz (keyed by seed and every simulation
    setting) and read back on the next call, so a dataset is simulated once. A 512x512 slice at
    720 views costs about 10-20 s per slice on one core; ``workers`` > 1 uses processes.
    Pick seeds from ``denoiser.seeds`` so training and evaluation anatomy never overlap.
    """
    config = SimConfig(
        size=size,
        doses=tuple(float(d) for d in doses),
        n_views=n_views,
        i0=i0,
        electronic_noise=electronic_noise,
        filter_name=filter_name,
    )
    seeds = list(range(seed, seed + n))
    cache = Path(cache_dir) if cache_dir is not None else None
    if cache is not None:
        cache.mkdir(parents=True, exist_ok=True)
    jobs = [(s, config, cache) for s in seeds]
    if workers > 1:
        with ProcessPoolExecutor(max_workers=workers) as pool:
            results = pool.map(_load_or_simulate, *zip(*jobs, strict=True))
            slices = list(_maybe_progress(results, len(jobs), progress))
    else:
        slices = [_load_or_simulate(*job) for job in _maybe_progress(jobs, len(jobs), progress)]
    spacing = slices[0].phantom.pixel_spacing_mm if slices else DEFAULT_FOV_MM / size
    return SimDataset(slices=slices, doses=config.doses, size=size, pixel_spacing_mm=spacing)


def _maybe_progress(items, total: int, enabled: bool):
    if not enabled:
        return items
    from tqdm import tqdm

    return tqdm(items, total=total, desc="simulating phantoms", unit="slice")


def _cache_path(cache: Path, seed: int, config: SimConfig) -> Path:
    return cache / f"sim-{config.size}px-seed{seed}-{config.cache_key()}.npz"


def _load_or_simulate(seed: int, config: SimConfig, cache: Path | None) -> SimSlice:
    if cache is None:
        return simulate_slice(seed, config)
    path = _cache_path(cache, seed, config)
    if path.exists():
        try:
            return _load_slice(path, config)
        except (OSError, ValueError, KeyError):
            pass  # a truncated or stale file is simply simulated again
    sim = simulate_slice(seed, config)
    _save_slice(path, sim)
    return sim


def _save_slice(path: Path, sim: SimSlice) -> None:
    ph = sim.phantom
    arrays = {
        "seed": np.array(sim.seed),
        "pixel_spacing_mm": np.array(ph.pixel_spacing_mm),
        "clean": ph.hu,
        "truth": sim.truth,
        "nd": sim.nd,
        "doses": np.array(sorted(sim.ld)),
        "body": ph.body,
        "liver": ph.liver,
        "liver_roi": ph.liver_roi,
        "labels": ph.labels,
        "lesion_masks": np.array([les.mask for les in ph.lesions], dtype=bool).reshape(
            -1, *ph.hu.shape
        ),
        "lesion_backgrounds": np.array([les.background for les in ph.lesions], dtype=bool).reshape(
            -1, *ph.hu.shape
        ),
        "lesion_contrast": np.array([les.contrast_hu for les in ph.lesions], dtype=np.float64),
        "lesion_radius": np.array([les.radius_mm for les in ph.lesions], dtype=np.float64),
        "lesion_center": np.array([les.center_rc for les in ph.lesions], dtype=np.float64).reshape(
            -1, 2
        ),
    }
    for i, dose in enumerate(sorted(sim.ld)):
        arrays[f"ld_{i}"] = sim.ld[dose]
    # Write then rename, so a concurrent reader never sees half a file.
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "wb") as fh:
        np.savez(fh, **arrays)
    os.replace(tmp, path)


def _load_slice(path: Path, config: SimConfig) -> SimSlice:
    with np.load(path) as z:
        doses = [float(d) for d in z["doses"]]
        if sorted(doses) != sorted(config.doses):
            raise ValueError(f"{path} holds doses {doses}, expected {config.doses}")
        lesions = [
            Lesion(
                mask=z["lesion_masks"][i],
                background=z["lesion_backgrounds"][i],
                contrast_hu=float(z["lesion_contrast"][i]),
                radius_mm=float(z["lesion_radius"][i]),
                center_rc=(float(z["lesion_center"][i][0]), float(z["lesion_center"][i][1])),
            )
            for i in range(len(z["lesion_contrast"]))
        ]
        phantom = Phantom(
            hu=z["clean"],
            pixel_spacing_mm=float(z["pixel_spacing_mm"]),
            body=z["body"],
            liver=z["liver"],
            liver_roi=z["liver_roi"],
            labels=z["labels"],
            lesions=lesions,
            seed=int(z["seed"]),
        )
        ld = {dose: z[f"ld_{i}"] for i, dose in enumerate(doses)}
        return SimSlice(seed=int(z["seed"]), phantom=phantom, truth=z["truth"], nd=z["nd"], ld=ld)
