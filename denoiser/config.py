"""Every training option in one dataclass, loadable from TOML or JSON.

A config file holds top-level keys plus optional ``[generator]``,
``[discriminator]`` and ``[encoder]`` tables; unknown keys are an error, so
a typo never silently falls back to a default.
"""

from __future__ import annotations

import json
import math
import tomllib
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from denoiser.anatomy import ANATOMIES
from denoiser.kernels import KERNELS
from denoiser.networks import DiscriminatorSpec, EncoderSpec, GeneratorSpec

CONFIG_DIR = Path(__file__).parent / "configs"


# The texture blend's default band, cycles per pixel (0.15-0.30 cycles/mm at 0.7 mm).
TEXTURE_BAND = (0.106, 0.21)


@dataclass
class TrainConfig:
    # --- identity and reproducibility
    name: str = "ldct-attention-cyclegan"
    version: str = "0.1.0"
    seed: int = 1234
    out_dir: str = "denoiser/runs/default"
    device: str = "auto"  # "auto" | "cpu" | "cuda" | "mps"
    amp: bool = True  # bf16 autocast on CUDA only; CPU always runs fp32
    threads: int = 1  # CPU threads (leave cores to the web app and other jobs)

    # --- data
    data_source: str = "simulated"  # "simulated" | "anatomy" (denoiser.anatomy) | "dicom"
    ld_dirs: list[str] = field(default_factory=list)  # DICOM series folders (data_source=dicom)
    nd_dirs: list[str] = field(default_factory=list)
    val_ld_dirs: list[str] = field(default_factory=list)  # optional paired validation (dicom)
    val_nd_dirs: list[str] = field(default_factory=list)
    cache_dir: str = "denoiser/runs/cache"
    phantom_seed_start: int = 100_000  # first training phantom (denoiser.seeds.TRAIN_SEEDS)
    sim_size: int = 512  # simulated slice size in pixels
    sim_slices_per_domain: int = 64  # slices per unpaired domain (LD and ND phantoms differ)
    dose_min: float = 0.1  # dose fractions drawn uniformly for LD training slices
    dose_max: float = 0.5
    # data_source = "anatomy": each slice draws its anatomy, pixel spacing (mm) and
    # reconstruction kernel from these (denoiser.anatomy, denoiser.kernels).
    anatomies: list[str] = field(
        default_factory=lambda: ["abdomen", "pelvis", "chest", "head", "neck"]
    )
    spacing_range_mm: list[float] = field(default_factory=lambda: [0.3, 1.0])
    kernels: list[str] = field(
        default_factory=lambda: ["hann", "hamming", "cosine", "shepp-logan", "ramp", "edge"]
    )
    val_slices: int = 8
    val_dose: float = 0.25
    hu_min: float = -1024.0  # HU clip window mapped linearly onto [-1, 1]
    hu_max: float = 3072.0
    patch_size: int = 96
    batch_size: int = 4
    foreground_fraction: float = 0.9  # share of patches centred inside the body
    augment: bool = True  # random flips and 90-degree rotations

    # --- networks
    generator: GeneratorSpec = field(default_factory=GeneratorSpec)
    discriminator: DiscriminatorSpec = field(default_factory=DiscriminatorSpec)
    encoder: EncoderSpec = field(default_factory=EncoderSpec)

    # --- what the discriminators see (see cyclegan.DiscInput)
    disc_input: str = "window+highpass"  # "raw" | "window" | "window+highpass" | "highpass"
    disc_window_hu: list[float] = field(default_factory=lambda: [-160.0, 240.0])

    # --- losses
    lambda_cycle: float = 10.0
    # LD -> ND -> LD cycle compared after a Gaussian blur of this sigma (pixels); 0: plain L1.
    # The LD noise realisation cannot be recovered from a denoised image, so a full-band
    # cycle rewards hiding it in the output (CycleGAN steganography, Chu et al. 2017).
    cycle_lowpass_sigma: float = 0.0
    # The ND -> LD -> ND cycle likewise. Full band, the denoiser must give back the exact
    # ND noise under the noise the other generator added: it learns to subtract that
    # generator's (learnable, hence invertible) noise instead of denoising real LD.
    nd_cycle_lowpass_sigma: float = 0.0
    lambda_identity: float = 5.0  # 0.5 x lambda_cycle, as in CycleGAN
    # The denoiser's identity term G_ld2nd(ND) ~ ND compared after a Gaussian blur of this
    # sigma (pixels); 0: plain L1. A full-band identity asks the denoiser to keep every bit
    # of normal-dose noise, which a generator that cannot tell ND noise from LD noise pays
    # for by keeping LD noise too; blurred, it still forbids any change of structure.
    identity_lowpass_sigma: float = 0.0
    lambda_adv: float = 1.0
    # R1 penalty on the discriminators (Mescheder et al., ICML 2018): gamma/2 times the
    # squared gradient of D at real patches (0: off). Unregularised GAN training need not
    # converge and circles around the equilibrium; the penalty makes D flat on the data,
    # so the generator is not chased by a discriminator that keeps finding new tells.
    # Measured here (gamma 0.1 and 1): D stays at chance, since telling noise levels apart
    # takes a D steep in its input (benchmarks/denoiser/results/recipes/heldout.md).
    r1_gamma: float = 0.0
    lambda_perceptual: float = 1.0  # replaced by calibration when perceptual_share > 0
    perceptual_share: float = 0.1  # target share of the initial generator loss (0: use lambda)
    perceptual_net: str = "ct_encoder"  # "ct_encoder" | "vgg" | "none"
    perceptual_levels: list[int] = field(default_factory=lambda: [1, 2])
    # The cross-domain perceptual terms (denoised LD against its LD input, noised ND against
    # its ND input) compared after a Gaussian blur of this sigma (pixels); 0: full band.
    # Full band, the feature distance grows with every bit of LD noise removed, so it pulls
    # the denoiser back towards its noisy input; blurred, it still guards the anatomy.
    perceptual_lowpass_sigma: float = 0.0
    encoder_path: str = "denoiser/weights/ct_encoder.pt"
    vgg_path: str = ""  # local VGG-16 state dict, only for perceptual_net = "vgg"

    # --- optimisation
    lr: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999
    pool_size: int = 50
    epochs: int = 20
    iters_per_epoch: int = 500
    decay_start_epoch: int = -1  # -1: linear decay to zero over the second half
    grad_clip: float = 0.0  # 0: off
    # Exponential moving average of the LD->ND generator's weights (0: off). Validation,
    # best.pt and the exported model use the average: GAN training oscillates, and the
    # average of the iterates is steadier than any one of them (Yazici et al., ICLR 2019).
    ema_decay: float = 0.0

    # --- self-supervised warm start of the denoiser (denoiser.warmstart); "" = identity
    warm_start_path: str = ""
    # The warm start's task kept as a loss term during CycleGAN training (0: off): L1 of
    # G_ld2nd(ND + synthetic FBP noise) against ND, with the noise drawn as for the warm start.
    lambda_synthetic: float = 0.0
    # --- noise texture term
    # Noise texture (0: off): L1 between the log power spectra, averaged over the batch, of
    # denoised LD and of real ND patches, band-passed (reading window minus its Gaussian blur
    # of `texture_sigma` pixels). A batch statistic, so it needs no pairs; it asks for ND's
    # noise spectrum, coarse part included, which no pixel term does.
    lambda_texture: float = 0.0
    texture_sigma: float = 8.0
    # --- the warm start's own training (denoiser.warmstart.pretrain_generator)
    warm_iters: int = 3000
    warm_noise_sd_hu: list[float] = field(default_factory=lambda: [5.0, 40.0])
    warm_kernel_cutoff: list[float] = field(default_factory=lambda: [0.7, 1.3])
    warm_ramp_exponent: list[float] = field(default_factory=lambda: [1.0, 1.0])
    # Reconstruction kernels whose noise spectrum the synthetic noise takes, one drawn per
    # patch (denoiser.kernels); the window's end is scaled by warm_kernel_cutoff.
    warm_kernels: list[str] = field(default_factory=lambda: ["hann"])
    # FBP noise power rises with frequency, so in a pixel loss the noise coarser than ~10 mm
    # is a few per cent of the total and a denoiser learns to leave it. For the first
    # `warm_coarse_iters` iterations the loss adds these weights times the squared error of
    # the 2-, 4- and 8-pixel average-pooled output (coarse noise taken to about half); the
    # rest of the run is the pixel loss alone, which the finest noise needs
    # (benchmarks/denoiser/results/recipes/texture.md, sections 3 and 6).
    warm_coarse_weights: list[float] = field(default_factory=lambda: [0.0, 0.0, 0.0])
    warm_coarse_iters: int = 0
    # What the warm start learns to give back. "nd": ND patches plus synthetic FBP-shaped
    # noise -> ND (0.3.0 and 0.4.0). "truth" (data_source = "anatomy" only): a phantom's
    # noise-free reconstruction plus its own projection-domain low-dose noise, scaled by a
    # factor drawn from `warm_noise_scale` (0: the clean image, which must come back
    # unchanged) -> the noise-free reconstruction. The noise then has each kernel's power
    # spectrum, its streaks and its dependence on the attenuation along each ray.
    warm_target: str = "nd"
    warm_noise_scale: list[float] = field(default_factory=lambda: [0.0, 1.5])
    # Share of each "truth" batch whose noise is the stationary synthetic noise of a kernel
    # (warm_kernels, warm_noise_sd_hu) instead of the scan's own: it is learnt faster.
    warm_synthetic_share: float = 0.0
    # Start the warm start from this generator checkpoint's weights ("": from scratch).
    warm_init_path: str = ""
    # The loss as a reader sees the image: besides the whole HU range, these windows
    # ([low, high] HU), each image clipped to it, and the loss the mean over them all of
    # log(MSE), i.e. minus the mean PSNR. In the whole range the brain's few-HU contrasts
    # are a rounding error next to bone edges; in its window they count as much. []: the
    # plain pixel MSE.
    warm_windows_hu: list[list[float]] = field(default_factory=list)
    # Cosine decay of the warm start's learning rate from `lr` to this over the run
    # (0: constant). A schedule key: a resumed run may change it.
    warm_lr_final: float = 0.0

    # --- self-supervised term on the LD images themselves (Recorrupted-to-Recorrupted,
    # Pang et al., CVPR 2021; denoiser.selfsupervised): the LD image y is recorrupted as
    # y + alpha z (input) and y - z / alpha (target) with z drawn from the noise power
    # spectrum estimated from the LD images, so the two noises are independent and the
    # loss is, in expectation, the supervised loss against the clean image plus a constant.
    # 0: off.
    lambda_self: float = 0.0
    self_alpha: float = 0.5

    # --- inference: texture
    # A share of the noise the network took off, between these frequencies (cycles per
    # pixel, since Denoiser never sees the pixel spacing; 0.106-0.21 is 0.15-0.30 cycles/mm at
    # the training data's 0.7 mm, where ND's noise power peaks, and 0.21-0.42 at 0.5 mm), is
    # put back: the output keeps the acquisition's own fine grain at
    # about ND's level instead of looking plastic. 0: off. Stored with the model; applied
    # by Denoiser (not in training or validation).
    texture_blend_share: float = 0.0
    texture_blend_band: list[float] = field(default_factory=lambda: list(TEXTURE_BAND))
    # Instead of that fixed band, one that follows each slice's noise: [low, high] times the
    # frequency where the removed noise's power peaks (the kernel's and the pixel size's
    # own, estimated from the image, never from a DICOM tag). []: the fixed band.
    texture_blend_relative: list[float] = field(default_factory=list)
    # --- inference: geometric self-ensemble
    # The network's output averaged over this many flips/transposes of the slice (1, 2, 4
    # or 8; each undone before averaging). Its errors differ between orientations while
    # the anatomy does not, so the mean has less of them; it costs that many forward passes.
    # Stored with the model; applied by Denoiser (not in training or validation).
    self_ensemble: int = 1

    # --- bookkeeping
    log_every: int = 25
    checkpoint_every: int = 250  # iterations between "last.pt" saves (resume points)
    # Validation metric that picks best.pt, higher is better (so not nps_peak_ratio, whose
    # target is 1).
    best_metric: str = "psnr"
    # Every this many epochs, also keep the validated generator as snapshots/epoch_NNNN.pt
    # (fp16, ~2.5 MB each; 0: off), to compare texture and sharpness along a long run.
    snapshot_every_epochs: int = 0

    # --- perceptual encoder pretraining (pretrain-encoder)
    encoder_iters: int = 3000
    encoder_lr: float = 1e-3
    encoder_batch_size: int = 16
    encoder_noise_sd_hu: list[float] = field(default_factory=lambda: [5.0, 60.0])

    def __post_init__(self) -> None:
        """Refuse values that would train silently wrong (no noise, NaN noise, no steps)."""
        ranges = (
            ("warm_noise_sd_hu", 0.0),
            ("warm_kernel_cutoff", 1e-6),
            ("warm_ramp_exponent", 0.0),
        )
        for name, low in ranges:
            _check_range(name, getattr(self, name), low)
        if self.snapshot_every_epochs < 0:
            every = self.snapshot_every_epochs
            raise ValueError(f"snapshot_every_epochs must be at least 0 (0: off), not {every}")
        if self.warm_iters < 1:
            raise ValueError(f"warm_iters must be at least 1, not {self.warm_iters}")
        weights = self.warm_coarse_weights
        if len(weights) != 3 or not all(math.isfinite(w) and w >= 0 for w in weights):
            raise ValueError(
                "warm_coarse_weights must be three weights of at least 0 (2-, 4-, 8-pixel "
                f"pooling), not {self.warm_coarse_weights}"
            )
        if not isinstance(self.warm_coarse_iters, int) or not (
            0 <= self.warm_coarse_iters <= self.warm_iters
        ):
            raise ValueError(
                f"warm_coarse_iters must be 0 to warm_iters ({self.warm_iters}), "
                f"not {self.warm_coarse_iters}"
            )
        check_texture_blend(
            self.texture_blend_share, self.texture_blend_band, self.texture_blend_relative
        )
        check_self_ensemble(self.self_ensemble)
        if self.texture_sigma <= 0:
            raise ValueError(f"texture_sigma must be above 0 pixels, not {self.texture_sigma}")
        if self.warm_target not in ("nd", "truth"):
            raise ValueError(f"warm_target must be 'nd' or 'truth', not {self.warm_target!r}")
        if self.warm_target == "truth" and self.data_source != "anatomy":
            raise ValueError("warm_target = 'truth' needs data_source = 'anatomy' (a known truth)")
        _check_range("warm_noise_scale", self.warm_noise_scale, 0.0)
        if not 0.0 <= self.warm_synthetic_share <= 1.0:
            raise ValueError(
                f"warm_synthetic_share must be 0 to 1, not {self.warm_synthetic_share}"
            )
        for window in self.warm_windows_hu:
            if not isinstance(window, list | tuple) or len(window) != 2 or window[0] >= window[1]:
                raise ValueError(
                    f"warm_windows_hu must be [low, high] HU pairs with low < high, not {window}"
                )
        if self.warm_windows_hu and self.warm_coarse_iters:
            # The coarse terms are squared errors; beside a log they would hardly count.
            raise ValueError("warm_windows_hu needs warm_coarse_iters = 0 (no coarse phase)")
        if not 0.0 <= self.warm_lr_final <= self.lr:
            raise ValueError(f"warm_lr_final must be 0 to lr ({self.lr}), not {self.warm_lr_final}")
        _check_range("spacing_range_mm", self.spacing_range_mm, 0.05)
        if self.self_alpha <= 0:
            raise ValueError(f"self_alpha must be above 0, not {self.self_alpha}")
        for name, allowed in (
            ("anatomies", ANATOMIES),
            ("kernels", KERNELS),
            ("warm_kernels", KERNELS),
        ):
            chosen = getattr(self, name)
            wrong = [x for x in chosen if x not in allowed]
            if not chosen or wrong:
                raise ValueError(f"{name} must be a non-empty list of {', '.join(allowed)}")
        for name in ("lambda_synthetic", "lambda_texture", "r1_gamma", "lambda_self"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be at least 0, not {getattr(self, name)}")

    def resolved_decay_start(self) -> int:
        return self.epochs // 2 if self.decay_start_epoch < 0 else self.decay_start_epoch

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainConfig:
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown config keys: {sorted(unknown)}")
        data = dict(data)
        for key, spec_cls in (
            ("generator", GeneratorSpec),
            ("discriminator", DiscriminatorSpec),
            ("encoder", EncoderSpec),
        ):
            if isinstance(data.get(key), dict):
                data[key] = _spec_from_dict(spec_cls, data[key], key)
        return cls(**data)

    @classmethod
    def load(cls, path: str | Path) -> TrainConfig:
        path = Path(path)
        if path.suffix == ".toml":
            with path.open("rb") as fh:
                data = tomllib.load(fh)
        elif path.suffix == ".json":
            data = json.loads(path.read_text())
        else:
            raise ValueError(f"{path}: config must be .toml or .json")
        return cls.from_dict(data)

    def save_json(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2))


def check_texture_blend(share: float, band: list[float], relative: list[float] = ()) -> None:
    """ValueError unless 0 <= share <= 1, 0 <= low < high <= 0.71 cycles per pixel, and the
    relative band (if any) is 0 <= low < high times the noise peak."""
    if not 0 <= share <= 1:
        raise ValueError(f"texture_blend_share must be 0 to 1, not {share}")
    if len(band) != 2 or not 0 <= band[0] < band[1] <= 0.71:
        raise ValueError(
            f"texture_blend_band must be [low, high] cycles per pixel, 0 <= low < high <= 0.71 "
            f"(the corner of the spectrum), not {band}"
        )
    if relative and (len(relative) != 2 or not 0 <= relative[0] < relative[1]):
        raise ValueError(
            "texture_blend_relative must be [low, high] multiples of the noise peak, "
            f"0 <= low < high, or [] for the fixed band, not {list(relative)}"
        )


def check_texture_config(config: dict) -> None:
    """:func:`check_texture_blend` on a model's stored settings (a share of 0 needs no band);
    ValueError for values of the wrong kind too."""
    try:
        share = float(config.get("texture_blend_share", 0.0) or 0.0)
        if share:
            band = list(config.get("texture_blend_band") or TEXTURE_BAND)
            check_texture_blend(share, band, list(config.get("texture_blend_relative") or []))
    except TypeError as exc:
        raise ValueError(f"texture blend settings of the wrong kind ({exc})") from exc


SELF_ENSEMBLES = (1, 2, 4, 8)


def check_self_ensemble(n: Any) -> None:
    """ValueError unless ``n`` is one of the ensemble sizes Denoiser knows."""
    if isinstance(n, bool) or n not in SELF_ENSEMBLES:
        raise ValueError(f"self_ensemble must be one of 1, 2, 4, 8, not {n!r}")


def _check_range(name: str, value: Any, low: float) -> None:
    ok = (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(v, int | float) for v in value)
        and low <= value[0] <= value[1]
    )
    if not ok:
        raise ValueError(
            f"{name} must be two numbers [low, high] with {low:g} <= low <= high, not {value!r}"
        )


def _spec_from_dict(spec_cls: type, data: dict[str, Any], where: str) -> Any:
    known = {f.name for f in fields(spec_cls)}
    unknown = set(data) - known
    if unknown:
        raise ValueError(f"unknown keys in [{where}]: {sorted(unknown)}")
    return spec_cls(**data)
