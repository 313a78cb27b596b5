"""The work of a TrainingJob: unpaired LD/ND cases -> CycleGAN training -> a new model version.

Low-dose and normal-dose cases are unpaired, as the method needs. Validation is paired
by simulation: a few normal-dose slices are held out of training and given low-dose
noise by projection-domain noise insertion (denoiser.ctsim.insert_noise), so every
epoch reports PSNR/SSIM against the real normal-dose slice, beside the noisy input's.
Progress (iterations, losses, epoch metrics) goes into TrainingJob.history as it comes.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import asdict, dataclass, fields
from pathlib import Path

import numpy as np
from django.conf import settings

from reader_study.jobs.denoise import JobInputError, read_source
from reader_study.jobs.lifecycle import Attempt
from reader_study.models import Case, TrainingJob
from reader_study.registry import service as registry

log = logging.getLogger(__name__)
LOSS_KEYS = (
    "total",
    "adv",
    "cycle",
    "identity",
    "perceptual",
    "synthetic",
    "texture",
    "self",
    "D_total",
)


@dataclass
class TrainingOptions:
    """The options a researcher sets; everything else is the denoiser's default config."""

    epochs: int = 10
    iters_per_epoch: int = 200
    batch_size: int = 4
    patch_size: int = 96
    lr: float = 2e-4
    base_width: int = 32
    val_slices: int = 4
    val_dose: float = 0.25
    perceptual: bool = True
    # Iterations of the denoiser's self-supervised warm start (denoiser.warmstart), whose
    # task then stays in the loss; 0 trains the plain CycleGAN from the identity.
    warm_start_iters: int = 3000
    # Weight of the self-supervised term on the low-dose cases themselves (R2R with the
    # noise spectrum estimated from them, denoiser.selfsupervised); 0: off. Off by default:
    # its effect inside the CycleGAN is not measured yet, and per-case R2R adaptation
    # lowered PSNR (benchmarks/denoiser/results/general/adaptation.md).
    self_supervised_weight: float = 0.0
    seed: int = 1234

    LIMITS = {
        "epochs": (1, 500),
        "iters_per_epoch": (1, 100_000),
        "batch_size": (1, 64),
        "patch_size": (16, 512),
        "lr": (1e-6, 1e-2),
        "base_width": (4, 128),
        "val_slices": (0, 64),
        "val_dose": (0.01, 0.9),
        "warm_start_iters": (0, 100_000),
        "self_supervised_weight": (0, 1000),
        "seed": (0, 2**31 - 1),
    }

    @classmethod
    def from_dict(cls, data: dict) -> TrainingOptions:
        """Validates a researcher's options; raises ValueError naming the bad option."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"Unknown training options: {', '.join(sorted(unknown))}.")
        options = cls(**{k: v for k, v in data.items() if v is not None})
        for name, (low, high) in cls.LIMITS.items():
            value = getattr(options, name)
            if not isinstance(value, int | float) or not low <= value <= high:
                raise ValueError(f"{name.replace('_', ' ')} must be between {low} and {high}.")
        return options

    def to_dict(self) -> dict:
        return asdict(self)


def encoder_weights() -> Path:
    import denoiser

    return Path(denoiser.__file__).parent / "weights" / "ct_encoder.pt"


# What the shipped model's recipe adds to a warm-started run, read from its config so the
# platform's jobs follow the shipped recipe when it changes.
SHIPPED_RECIPE_KEYS = (
    "lambda_synthetic",
    "lambda_adv",
    "ema_decay",
    "lambda_cycle",
    "cycle_lowpass_sigma",
    "warm_ramp_exponent",
    "warm_kernels",
    "warm_coarse_weights",
    "texture_blend_share",
    "texture_blend_band",
    "texture_blend_relative",
    "self_ensemble",
)


def warm_start_recipe(options: TrainingOptions, out_dir: Path) -> dict:
    """Config keys for a warm-started job (none when ``warm_start_iters`` is 0)."""
    if options.warm_start_iters <= 0:
        return {}
    from denoiser.config import CONFIG_DIR, TrainConfig

    shipped = TrainConfig.load(CONFIG_DIR / "default.toml")
    # The warm start's coarse-loss phase takes the same share of a run of another length.
    coarse_share = shipped.warm_coarse_iters / shipped.warm_iters
    return {
        "warm_start_path": str(out_dir / "warm_start.pt"),
        "warm_iters": options.warm_start_iters,
        "warm_coarse_iters": round(options.warm_start_iters * coarse_share),
        **{key: getattr(shipped, key) for key in SHIPPED_RECIPE_KEYS},
    }


def build_config(job: TrainingJob, options: TrainingOptions, version: str, out_dir: Path):
    import torch

    from denoiser.config import TrainConfig
    from denoiser.networks import DiscriminatorSpec, GeneratorSpec

    width = options.base_width
    perceptual = options.perceptual and encoder_weights().is_file()
    recipe = warm_start_recipe(options, out_dir)
    return TrainConfig(
        name=job.name,
        version=version,
        seed=options.seed,
        out_dir=str(out_dir),
        data_source="dicom",
        threads=torch.get_num_threads(),
        patch_size=options.patch_size,
        batch_size=options.batch_size,
        epochs=options.epochs,
        iters_per_epoch=options.iters_per_epoch,
        lr=options.lr,
        val_dose=options.val_dose,
        generator=GeneratorSpec(base_width=width, max_width=width * 4),
        discriminator=DiscriminatorSpec(width=width * 2),
        perceptual_net="ct_encoder" if perceptual else "none",
        lambda_self=float(options.self_supervised_weight),
        encoder_path=str(encoder_weights()),
        log_every=max(1, min(25, options.iters_per_epoch // 4)),
        checkpoint_every=max(1, min(250, options.iters_per_epoch)),
        **recipe,
    )


def _case_slices(cases: list[Case], role: str) -> tuple[list[np.ndarray], list[float]]:
    slices, spacings = [], []
    for case in cases:
        series = case.original_series
        if series is None or not series.instances.exists():
            raise JobInputError(f"{role} case {case.label!r} has no stored original series.")
        volume, headers = read_source(series)
        slices.extend(volume)
        spacing = headers[0].get("PixelSpacing") or [0.7]
        spacings.extend([float(spacing[0])] * len(volume))
    if not slices:
        raise JobInputError(f"Pick at least one {role} case.")
    return slices, spacings


def _validation(nd: list[np.ndarray], spacings: list[float], options: TrainingOptions):
    """Holds out normal-dose slices and makes their simulated low-dose twins (paired)."""
    from denoiser.ctsim import insert_noise
    from denoiser.training_data import PairedSlices

    count = min(options.val_slices, len(nd) // 4)
    if count == 0:
        return nd, None
    picks = set(np.linspace(0, len(nd) - 1, count).round().astype(int).tolist())
    rng = np.random.default_rng(options.seed)
    ld_val, nd_val = [], []
    for index in sorted(picks):
        square = _centre_square(nd[index])
        nd_val.append(square)
        ld_val.append(
            insert_noise(square, options.val_dose, rng=rng, pixel_spacing_mm=spacings[index])
        )
    train = [s for i, s in enumerate(nd) if i not in picks]
    return train, PairedSlices(ld=np.stack(ld_val), nd=np.stack(nd_val))


def _centre_square(image: np.ndarray) -> np.ndarray:
    size = min(image.shape)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return np.ascontiguousarray(image[top : top + size, left : left + size], dtype=np.float32)


def build_data(job: TrainingJob, options: TrainingOptions):
    from denoiser.training_data import TrainingData

    ld, _ = _case_slices(list(job.low_dose_cases.all()), "low-dose")
    nd, spacings = _case_slices(list(job.normal_dose_cases.all()), "normal-dose")
    nd_train, val = _validation(nd, spacings, options)
    return TrainingData(ld=ld, nd=nd_train, val=val), {
        "ld_slices": len(ld),
        "nd_slices": len(nd_train),
        "val_slices": 0 if val is None else len(val.ld),
    }


# History kinds of each training stage, by the progress event that logs them.
_CYCLEGAN = ("iteration", "epoch")
STAGES = {"warm_start": ("warm_start",), "iteration": _CYCLEGAN, "epoch": _CYCLEGAN}


def _replaced(entry: dict, stage: tuple, kind: str, iteration: int) -> bool:
    if entry.get("kind") not in stage:
        return False
    later = entry["iteration"] > iteration
    return later or (entry["iteration"] == iteration and entry["kind"] == kind)


class HistoryRecorder:
    """Turns the trainer's progress events into TrainingJob.history and progress numbers.

    Progress counts the warm start's iterations first, then the CycleGAN's, as one run.
    """

    def __init__(self, attempt: Attempt, history: list, warm_iters: int = 0, total: int = 0):
        self.attempt = attempt
        self.history = list(history)
        self.warm_iters = warm_iters
        self.attempt.total = warm_iters + total

    def __call__(self, event: dict) -> None:
        kind = event.get("event")
        if kind in STAGES:
            self._forget_from(kind, int(event["iteration"]))
        if kind == "warm_start":
            self.history.append(
                {
                    "kind": "warm_start",
                    "iteration": event["iteration"],
                    "rmse_hu": round(float(event["rmse_hu"]), 3),
                }
            )
        elif kind == "iteration":
            losses = {k: round(float(v), 5) for k, v in event["losses"].items() if k in LOSS_KEYS}
            self.history.append(
                {
                    "kind": "iteration",
                    "epoch": event["epoch"],
                    "iteration": event["iteration"],
                    "losses": losses,
                }
            )
        elif kind == "epoch":
            metrics = {k: round(float(v), 4) for k, v in (event.get("metrics") or {}).items()}
            self.history.append(
                {
                    "kind": "epoch",
                    "epoch": event["epoch"],
                    "iteration": event["iteration"],
                    "metrics": metrics,
                    "best": bool(event.get("best")),
                }
            )
        if "total_iterations" in event:
            warm = kind == "warm_start"
            self.attempt.done = int(event["iteration"]) + (0 if warm else self.warm_iters)
            if not warm:
                self.attempt.total = self.warm_iters + int(event["total_iterations"])
        self.attempt.extra["history"] = self.history
        if kind == "warm_start_restarted":
            log.warning(
                "training job %s: %s; warm start from the beginning",
                self.attempt.job.pk,
                event["reason"],
            )
        # Epochs are rare and the page waits for them; a saved state must not get ahead of the
        # stored history (a resume would then leave a gap in it): write now.
        if kind in ("epoch", "saved"):
            self.attempt.beat()

    def _forget_from(self, kind: str, iteration: int) -> None:
        """A stage resumed from its saved state (or restarted) logs iterations that an earlier
        attempt logged too: the new entries replace that stage's old ones from there on. (An
        epoch entry shares its iteration with the last iteration entry: that one stays.)"""
        stage = STAGES[kind]
        last = self.history[-1] if self.history else {}
        if last.get("kind") in stage and last["iteration"] >= iteration:
            self.history = [h for h in self.history if not _replaced(h, stage, kind, iteration)]

    def should_stop(self) -> bool:
        return self.attempt.lost.is_set()


def model_card(job: TrainingJob, options: TrainingOptions, counts: dict, best: dict) -> str:
    lows = ", ".join(c.label for c in job.low_dose_cases.all())
    normals = ", ".join(c.label for c in job.normal_dose_cases.all())
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in best.items() if isinstance(v, int | float))
    return "\n".join(
        [
            f"Trained on this platform by {job.owner.get_username()} (training job {job.pk}).",
            "Method: unpaired attention CycleGAN (U-Net generator with attention fusion, "
            "residual transformation, perceptual loss when the CT encoder weights are present).",
            (
                f"Warm start: {options.warm_start_iters} iterations denoising the normal-dose "
                "cases with synthetic FBP noise added (self-supervised, no pairs), kept as a "
                "loss term during the CycleGAN training."
                if options.warm_start_iters
                else "No warm start: the denoiser started as the identity."
            ),
            f"Low-dose cases ({counts['ld_slices']} slices): {lows}.",
            f"Normal-dose cases ({counts['nd_slices']} slices for training): {normals}.",
            f"Validation: {counts['val_slices']} held-out normal-dose slices with simulated "
            f"{options.val_dose:g} x dose noise; HU window [-160, 240].",
            f"Best validation: {metrics or 'none (no validation slices)'}.",
            "Options: " + ", ".join(f"{k}={v}" for k, v in options.to_dict().items()) + ".",
            "Research use only, not for clinical diagnosis.",
        ]
    )


def out_dir_for(job: TrainingJob) -> Path:
    return Path(settings.VAR_DIR) / "training" / f"job-{job.pk}"


def run(attempt: Attempt) -> dict:
    """Trains (resuming this job's last.pt when a previous attempt left one) and registers."""
    from denoiser.train import train
    from reader_study.jobs import lifecycle

    job = TrainingJob.objects.select_related("owner").get(pk=attempt.job.pk)
    attempt.job = job
    try:
        # Jobs stored before the warm start existed keep the recipe they started with.
        options = TrainingOptions.from_dict({"warm_start_iters": 0, **job.options})
    except (TypeError, ValueError) as exc:
        raise JobInputError(str(exc)) from exc
    data, counts = build_data(job, options)
    attempt.check()
    version = registry.next_version(job.name)
    out_dir = out_dir_for(job)
    cfg = build_config(job, options, version, out_dir)
    warm = cfg.warm_iters if cfg.warm_start_path else 0
    total = cfg.epochs * cfg.iters_per_epoch
    recorder = HistoryRecorder(attempt, job.history, warm, total)  # a resumed run continues it
    started = (out_dir / "last.pt").exists()  # a resumed run has the weights in last.pt
    if warm and not started and not Path(cfg.warm_start_path).exists():
        from denoiser.warmstart import pretrain_generator

        # A warm start cut short by a crash or a cancel continues from its last saved state.
        if pretrain_generator(cfg, recorder, data, should_stop=recorder.should_stop) is None:
            lifecycle.finish_cancelled(attempt)
            return {"job": job.pk, "stopped": True}
    result = train(cfg, progress=recorder, should_stop=recorder.should_stop, data=data)
    if result.stopped:
        lifecycle.finish_cancelled(attempt)
        return {"job": job.pk, "stopped": True}
    checkpoint = result.best_checkpoint or result.last_checkpoint
    with attempt.fenced(), open(checkpoint, "rb") as fh:
        model = registry.register_checkpoint(
            fh,
            filename=checkpoint.name,
            name=job.name,
            version=registry.next_version(job.name),
            created_by=job.owner,
            model_card=model_card(job, options, counts, result.best_metrics),
            metrics=result.best_metrics,
        )
        lifecycle.succeed(attempt, result_model=model, history=recorder.history)
    shutil.rmtree(out_dir, ignore_errors=True)
    return {"job": job.pk, "model": model.pk}
