"""Self-supervised warm start of the denoising generator, from normal-dose images alone.

Started from the identity (zero head), the CycleGAN's denoiser spends 1000 to 3000
iterations before it removes anything, and then learns a weak denoiser (about a third of
the noise gone) that drifts back to more noise (``benchmarks/denoiser/results/recipes``).
Trained with pairs, the same network reaches 36 dB in 1000 iterations and 39 dB in 4000
(``benchmarks/denoiser/supervised_reference.py``): the architecture can denoise, the
adversarial signal is what is weak.

So before the CycleGAN starts, ``G_ld2nd`` learns to take synthetic CT noise off ND
patches: input ND + noise, target ND. No LD image and no pair is used, only the ND domain
the CycleGAN trains on anyway, so the method stays unpaired (the same data the perceptual
encoder is pretrained on). The target keeps its own ND noise, and a network that cannot
tell ND noise from the added noise also shrinks some of it (Noisier2Noise, Moran et al.,
CVPR 2020), so its output is somewhat quieter than ND. The CycleGAN then adapts it to the
real LD domain.

Synthetic noise follows filtered back-projection: white noise shaped so that its power
spectrum is ``|f| * W(f)^2`` (the ramp filter times the reconstruction kernel's
apodization ``W``, a Hann window reaching zero at ``cutoff`` x Nyquist). The cutoff is
drawn per patch from ``warm_kernel_cutoff`` so smooth and sharp kernels are both seen, and
the SD from ``warm_noise_sd_hu`` (LD noise over ND noise at 10 % to 50 % of the dose).
Measured CT noise has more low-frequency power than the ideal ramp (noise varies across
the body with the attenuation along each ray), so ``warm_ramp_exponent`` can flatten the
ramp per patch. The shipped warm start keeps 1: drawing it in [0.3, 1] changed neither the
denoising nor the coarse texture left (``results/recipes/heldout.md``).
"""

from __future__ import annotations

import copy
import math
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from denoiser import checkpoint as ckpt
from denoiser import guard, kernels
from denoiser.config import TrainConfig
from denoiser.data import PairPatchSampler, nd_patches
from denoiser.inference import pick_device
from denoiser.networks import build_generator
from denoiser.training_data import TrainingData

Progress = Callable[[dict[str, Any]], None]


def fbp_like_noise(
    shape: tuple[int, ...],
    sd: torch.Tensor,
    cutoff: torch.Tensor,
    gen: torch.Generator | None,
    ramp_exponent: torch.Tensor | None = None,
    kernel_names: list[str] | None = None,
) -> torch.Tensor:
    """Noise of shape (batch, 1, rows, cols) whose power spectrum is |f|^p x W^2.

    ``sd``, ``cutoff`` (fraction of Nyquist where the window reaches its end) and
    ``ramp_exponent`` p (default 1, the ramp) are per sample, shape (batch,); so is the
    window ``W``, the reconstruction kernel named in ``kernel_names`` (default: Hann for
    every sample; see ``denoiser.kernels``). Each sample is scaled to exactly its ``sd``.
    """
    rows, cols = shape[-2:]
    fy = torch.fft.fftfreq(rows, device=sd.device).view(-1, 1)
    fx = torch.fft.rfftfreq(cols, device=sd.device).view(1, -1)
    radius = torch.sqrt(fy**2 + fx**2)  # cycles per pixel, Nyquist 0.5
    f_c = (0.5 * cutoff).view(-1, 1, 1, 1)
    if kernel_names is None:
        window = torch.where(
            radius < f_c, 0.5 + 0.5 * torch.cos(math.pi * radius / f_c), torch.zeros(())
        )
    else:
        window = torch.stack(
            [
                torch.from_numpy(kernels.window(name, radius.cpu().numpy(), float(c))).float()
                for name, c in zip(kernel_names, cutoff.tolist(), strict=True)
            ]
        )[:, None].to(sd.device)
    p = torch.ones_like(sd) if ramp_exponent is None else ramp_exponent
    amplitude = radius ** (0.5 * p.view(-1, 1, 1, 1)) * window
    white = torch.randn(shape, generator=gen, device=sd.device)
    noise = torch.fft.irfft2(torch.fft.rfft2(white) * amplitude, s=(rows, cols))
    noise = noise / noise.std(dim=(1, 2, 3), keepdim=True).clamp_min(1e-12)
    return noise * sd.view(-1, 1, 1, 1)


def _uniform(bounds: list[float], n: int, gen: torch.Generator | None) -> torch.Tensor:
    lo, hi = bounds
    return lo + (hi - lo) * torch.rand(n, generator=gen)


def synthetic_noise(
    shape: tuple[int, ...], cfg: TrainConfig, gen: torch.Generator | None = None
) -> torch.Tensor:
    """FBP-like noise in the networks' unit space, drawn on the CPU from the warm-start
    ranges (``gen``, or torch's global generator, which training checkpoints save), so a
    run draws the same noise on any device and after a resume."""
    n = shape[0]
    sd = _uniform(cfg.warm_noise_sd_hu, n, gen) / ((cfg.hu_max - cfg.hu_min) / 2.0)
    cutoff = _uniform(cfg.warm_kernel_cutoff, n, gen)
    # A fixed exponent takes no draw, so the shipped model (exponent 1) stays reproducible
    # bit for bit from its config.
    lo, hi = cfg.warm_ramp_exponent
    p = torch.full((n,), float(lo)) if lo == hi else _uniform(cfg.warm_ramp_exponent, n, gen)
    names = None  # Hann alone: no draw, as before warm_kernels existed
    if cfg.warm_kernels != ["hann"]:
        picks = torch.randint(len(cfg.warm_kernels), (n,), generator=gen).tolist()
        names = [cfg.warm_kernels[i] for i in picks]
    return fbp_like_noise(shape, sd, cutoff, gen, p, names)


def add_synthetic_noise(
    clean: torch.Tensor, cfg: TrainConfig, gen: torch.Generator | None = None
) -> torch.Tensor:
    """``clean`` (networks' unit space, any device) plus :func:`synthetic_noise`."""
    return clean + synthetic_noise(tuple(clean.shape), cfg, gen).to(clean.device)


def pretrain_generator(
    cfg: TrainConfig,
    progress: Progress | None = None,
    data: TrainingData | None = None,
    should_stop: Callable[[], bool] | None = None,
    resume: bool = True,
) -> Path | None:
    """Train a denoising generator on ND patches + synthetic noise; write ``warm_start_path``.

    The file is an ordinary generator checkpoint: ``Denoiser.load`` and ``evaluate`` take
    it, so the warm start can be measured on its own. Every ``checkpoint_every`` iterations,
    and when ``should_stop()`` (polled every iteration) returns True, the run's state goes to
    :func:`resume_path`, which the next call continues from (``resume=False``: start afresh),
    so a crash or a cancel costs at most ``checkpoint_every`` iterations. Stopped, nothing else
    is written and None is returned.
    """
    if not cfg.warm_start_path:
        raise ValueError("warm_start_path is empty: set where the warm start is written")
    data, sampler, gen = nd_patches(cfg, data, stream=11)
    if cfg.warm_target == "truth":
        sampler = PairPatchSampler(data.pairs, cfg, sampler.rng, cfg.warm_noise_scale)
    device = pick_device(cfg.device)
    net = build_generator(cfg.generator)
    if cfg.warm_init_path:  # a new schedule on top of an earlier warm start's weights
        _arch, state = ckpt.generator_weights(
            Path(cfg.warm_init_path), ckpt.load_checkpoint_file(cfg.warm_init_path)
        )
        # A condition (cond_dim) added to a trained network starts at zero: unchanged.
        ckpt.load_into(Path(cfg.warm_init_path), net, state, new=("film.",))
    net = net.to(device)
    run = _Run(cfg, net, _adam(cfg, net), sampler, gen)
    if resume:
        run.resume(progress)
    hu_per_unit = (cfg.hu_max - cfg.hu_min) / 2.0
    t0, losses = time.perf_counter(), run.losses
    for it in range(run.iteration + 1, cfg.warm_iters + 1):
        if should_stop and should_stop():
            run.save()
            return None
        if it == cfg.warm_coarse_iters + 1 and cfg.warm_coarse_iters:
            # The pixel loss alone from here: Adam's second moments, grown on the coarse
            # terms' large gradients, would keep its steps too small for the finest noise
            # for thousands of iterations (texture.md, sec. 7); a fresh Adam takes it in 2000.
            run.opt = _adam(cfg, net)
        # Set every iteration: a resumed optimiser brings back the rate it was saved with.
        lr = (
            cosine_lr(cfg.lr, cfg.warm_lr_final, it, cfg.warm_iters)
            if cfg.warm_lr_final
            else cfg.lr
        )
        for group in run.opt.param_groups:
            group["lr"] = lr
        noisy, clean, cond = warm_batch(cfg, sampler, gen)
        noisy, clean = noisy.to(device), clean.to(device)
        # Mean squared error: its optimum is the conditional mean (see the module docstring).
        out = net(noisy) if cond is None else net(noisy, cond.to(device))
        pixel = F.mse_loss(out, clean)
        loss = pixel
        if cfg.warm_windows_hu:
            loss = window_loss(out, clean, cfg)
        if it <= cfg.warm_coarse_iters:
            loss = loss + coarse_loss(out, clean, cfg.warm_coarse_weights)
        run.opt.zero_grad(set_to_none=True)
        loss.backward()
        run.opt.step()
        losses.append(pixel.item())  # the logged RMSE is the pixel error, coarse terms or not
        run.iteration = it
        if progress and (it % cfg.log_every == 0 or it == cfg.warm_iters):
            rms_hu = math.sqrt(float(np.mean(losses[-cfg.log_every :]))) * hu_per_unit
            progress(
                {
                    "event": "warm_start",
                    "iteration": it,
                    "total_iterations": cfg.warm_iters,
                    "rmse_hu": rms_hu,
                    "seconds": time.perf_counter() - t0,
                }
            )
        if it % cfg.checkpoint_every == 0 and it < cfg.warm_iters:
            run.save()
            if progress:  # a platform job writes its history at once, so it never lags the state
                progress({"event": "saved", "stage": "warm_start", "iteration": it})
    rmse_hu = math.sqrt(float(np.mean(losses[-50:]))) * hu_per_unit
    path = _save(cfg, net, data, rmse_hu, device)
    resume_path(cfg).unlink(missing_ok=True)
    return path


def warm_batch(cfg: TrainConfig, sampler, gen: torch.Generator | None = None):
    """(noisy, clean, condition) patches of the warm start's task, on the CPU: ND plus
    synthetic noise against ND, or a phantom's truth plus its own scan noise against the
    truth. The condition is None unless the generator takes one (``cond_dim``)."""
    if cfg.warm_target == "truth":
        noisy, clean = sampler.sample(cfg.batch_size)
        cond = _conditions(cfg, sampler, gen)
        k = round(cfg.warm_synthetic_share * cfg.batch_size)
        if k:  # part of the batch with stationary noise of a kernel's spectrum instead
            noisy[:k] = add_synthetic_noise(clean[:k], cfg, gen)
            if cond is not None:  # a patch has no slice around it to measure: unknown
                cond[:k] = 0.0
        # Clipped as Denoiser clips its input: air under noise is -1024 HU at the lowest.
        # (The "nd" task below stays unclipped: clipped, the small network of the warm-start
        # test stalled at the identity on more seeds; not pursued.)
        return noisy.clamp_(-1.0, 1.0), clean, cond
    if cfg.generator.cond_dim:
        raise ValueError("a conditioned generator needs warm_target 'truth' (whole slices)")
    clean = sampler.sample(cfg.batch_size)
    return add_synthetic_noise(clean, cfg, gen), clean, None


# Share of measured conditions replaced by "unknown" in training, so a slice without air
# in view (no measure) still gets a network that was trained for that case.
UNKNOWN_SHARE = 0.1


def _conditions(cfg: TrainConfig, sampler, gen: torch.Generator | None) -> torch.Tensor | None:
    if not cfg.generator.cond_dim:
        return None
    cond = torch.from_numpy(sampler.last_conditions.copy())
    cond[torch.rand(len(cond), generator=gen) < UNKNOWN_SHARE] = 0.0
    return cond


def _adam(cfg: TrainConfig, net: torch.nn.Module) -> torch.optim.Adam:
    return torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))


def coarse_loss(out: torch.Tensor, target: torch.Tensor, weights: list[float]) -> torch.Tensor:
    """Weighted squared errors of the 2-, 4- and 8-pixel average-pooled images: the same
    error as the pixel loss, but seen where coarse noise, not fine, is most of it."""
    loss = out.new_zeros(())
    for k, weight in zip((2, 4, 8), weights, strict=True):
        if weight:
            loss = loss + weight * F.mse_loss(F.avg_pool2d(out, k), F.avg_pool2d(target, k))
    return loss


def window_loss(out: torch.Tensor, target: torch.Tensor, cfg: TrainConfig) -> torch.Tensor:
    """Minus the mean PSNR over the whole range and ``cfg.warm_windows_hu`` (each image
    clipped to the window), up to constants: a window's width is a constant under the log.

    The log gives each window the same say in relative terms, whatever its width: halving
    the error in the brain window is worth halving it in the lung window. The floor, an
    error of 0.1 HU averaged over every pixel of the batch, keeps a window with almost
    nothing in it from steering the batch (for a window holding a share f of the pixels it
    is 0.1 / sqrt(f) HU of error inside the window).
    """
    unit = 2.0 / (cfg.hu_max - cfg.hu_min)
    floor = (0.1 * unit) ** 2
    terms = [torch.log(F.mse_loss(out, target) + floor)]
    for low, high in cfg.warm_windows_hu:
        lo, hi = (low - cfg.hu_min) * unit - 1.0, (high - cfg.hu_min) * unit - 1.0
        err = F.mse_loss(out.clamp(lo, hi), target.clamp(lo, hi))
        terms.append(torch.log(err + floor))
    return torch.stack(terms).mean()


def cosine_lr(start: float, final: float, it: int, total: int) -> float:
    """The learning rate at iteration ``it`` of ``total``: ``start`` at the first, ``final``
    at the last, half a cosine between."""
    progress = (it - 1) / max(1, total - 1)
    return final + 0.5 * (start - final) * (1.0 + math.cos(math.pi * min(1.0, progress)))


def resume_path(cfg: TrainConfig) -> Path:
    """Where an unfinished warm start keeps its state: beside ``warm_start_path``."""
    path = Path(cfg.warm_start_path)
    return path.with_name(f"{path.stem}.partial{path.suffix}")


# Settings that make a saved warm start another run: its state is not resumed under others.
# (warm_iters and warm_coarse_iters, the schedule, may change: a run can be lengthened or
# cut short and continue from where it is.)
RESUME_KEYS = (
    "seed",
    "data_source",
    "nd_dirs",
    "phantom_seed_start",
    "sim_size",
    "sim_slices_per_domain",
    "val_slices",
    "augment",
    "foreground_fraction",
    "generator",
    "patch_size",
    "batch_size",
    "lr",
    "hu_min",
    "hu_max",
    "warm_noise_sd_hu",
    "warm_kernel_cutoff",
    "warm_ramp_exponent",
    "warm_kernels",
    "warm_coarse_weights",
    "warm_target",
    "warm_noise_scale",
    "warm_synthetic_share",
    "warm_init_path",
    "warm_windows_hu",
    "anatomies",
    "spacing_range_mm",
    "kernels",
    "dose_min",
    "dose_max",
)


class _Run:
    """The state of a warm start in progress: weights, optimiser, both random streams."""

    def __init__(self, cfg: TrainConfig, net, opt, sampler, gen: torch.Generator) -> None:
        self.cfg, self.net, self.opt, self.sampler, self.gen = cfg, net, opt, sampler, gen
        self.iteration = 0
        self.losses: list[float] = []

    def save(self) -> None:
        state = {
            "G_ld2nd": self.net.state_dict(),
            "opt": self.opt.state_dict(),
            "iteration": self.iteration,
            # Enough for the log's running mean and the final RMSE (last 50).
            "losses": self.losses[-max(50, self.cfg.log_every) :],
            "sampler_rng": self.sampler.rng.bit_generator.state,
            "noise_rng": self.gen.get_state(),
        }
        arch, config = self.cfg.generator.to_dict(), self.cfg.to_dict()
        ckpt.write_checkpoint(
            resume_path(self.cfg), "training_state", arch, config=config, state=state
        )

    def _snapshot(self) -> tuple:
        return (
            copy.deepcopy(self.net.state_dict()),
            copy.deepcopy(self.opt.state_dict()),
            self.sampler.rng.bit_generator.state,
            self.gen.get_state(),
        )

    def _restore(self, snapshot: tuple) -> None:
        net, opt, sampler_rng, noise_rng = snapshot
        self.net.load_state_dict(net)
        self.opt.load_state_dict(opt)
        self.sampler.rng.bit_generator.state = sampler_rng
        self.gen.set_state(noise_rng)
        self.iteration, self.losses = 0, []

    def resume(self, progress: Progress | None) -> None:
        path = resume_path(self.cfg)
        if not path.exists():
            return
        reason, fresh = None, self._snapshot()
        try:
            payload = ckpt.load_checkpoint_file(path, expected_kind="training_state")
            saved, ours = payload.get("config") or {}, self.cfg.to_dict()
            # A key the saved config lacks ran at its default: a state saved without the key.
            defaults = TrainConfig().to_dict()
            differ = [k for k in RESUME_KEYS if saved.get(k, defaults[k]) != ours[k]]
            s = payload["state"]
            if differ:
                reason = f"{path} was saved with other {', '.join(differ)}"
            elif s["iteration"] > self.cfg.warm_iters:
                reason = f"{path} is at iteration {s['iteration']}, past warm_iters"
            else:
                ckpt.load_into(path, self.net, s["G_ld2nd"])
                self.opt.load_state_dict(s["opt"])
                self.sampler.rng.bit_generator.state = s["sampler_rng"]
                self.gen.set_state(s["noise_rng"])
                self.iteration, self.losses = int(s["iteration"]), list(s["losses"])
        except (ckpt.CheckpointError, KeyError, TypeError, ValueError, RuntimeError) as exc:
            # A state that cannot be read back is not worth failing the job over: start afresh,
            # from the fresh state (the failure may have come after part of it was loaded).
            self._restore(fresh)
            reason = f"{path} could not be resumed ({exc})"
        if progress and reason:
            progress({"event": "warm_start_restarted", "reason": reason})
        elif progress:
            progress({"event": "warm_start_resumed", "iteration": self.iteration})


def _save(
    cfg: TrainConfig, net: torch.nn.Module, data: TrainingData, rmse_hu: float, device
) -> Path:
    from denoiser.validation import validate

    net.eval()
    metrics: dict[str, Any] = {"final_rmse_hu": rmse_hu}
    metrics.update(validate(net, data.val, cfg, device))
    return ckpt.write_checkpoint(
        cfg.warm_start_path,
        "generator",
        cfg.generator.to_dict(),
        net.state_dict(),
        # Measured as the network it is: the texture blend belongs to the finished model.
        config={**cfg.to_dict(), "texture_blend_share": 0.0},
        metrics=metrics,
        model_card={
            "name": f"{cfg.name}-warm-start",
            "purpose": "warm start of the CycleGAN denoiser (ND + synthetic FBP noise -> ND)"
            if cfg.warm_target == "nd"
            else "warm start of the CycleGAN denoiser (phantom truth + its scan noise -> truth)",
            "input_range": guard.training_range(data.ld),
            "iterations": cfg.warm_iters,
            "intended_use": "research use only, not for clinical diagnosis",
        },
    )


def load_warm_start(cfg: TrainConfig, net: torch.nn.Module) -> None:
    """Load ``warm_start_path`` into the LD->ND generator (clear error if it does not fit)."""
    path = Path(cfg.warm_start_path)
    if not path.exists():
        raise FileNotFoundError(
            f"warm_start_path {path} does not exist: run `python -m denoiser "
            "pretrain-generator --config ...` or `train --pretrain-generator`"
        )
    payload = ckpt.load_checkpoint_file(path)
    _arch, state = ckpt.generator_weights(path, payload)
    ckpt.load_into(path, net, state)
