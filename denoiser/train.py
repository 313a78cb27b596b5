"""CycleGAN training loop, callable from the CLI and from a Celery worker.

``train(cfg, progress=..., should_stop=...)`` runs (or resumes) a training
job and returns a :class:`TrainResult`. ``progress`` receives plain dicts
(JSON-serialisable), one per logged iteration and one per epoch::

    {"event": "iteration", "epoch": 3, "iteration": 910, "total_iterations": 6000,
     "lr": 0.0002, "losses": {"adv": ..., "cycle": ..., "identity": ..., "perceptual": ...,
                              "total": ..., "D_nd": ..., "D_ld": ..., "D_total": ...}}
    {"event": "epoch", "epoch": 3, "iteration": 1200, "total_iterations": 6000,
     "metrics": {"psnr": ..., "ssim": ..., "psnr_input": ..., "ssim_input": ..., ...},
     "best": true}
    {"event": "done", "stopped": false, "best_metrics": {...}, "checkpoint": "..."}

``should_stop()`` is polled every iteration; when it returns True the run
saves a resumable ``last.pt`` and returns with ``stopped=True``.

Files under ``cfg.out_dir``: ``config.json``, ``log.jsonl`` (every logged
iteration), ``metrics.csv`` (one row per epoch), ``last.pt`` (full training
state, for resume), ``best.pt`` (LD->ND generator with the best validation
PSNR, the file to ship or register).
"""

from __future__ import annotations

import copy
import csv
import json
import random
import time
from collections.abc import Callable
from contextlib import nullcontext
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from denoiser import checkpoint as ckpt
from denoiser import guard
from denoiser.config import TrainConfig
from denoiser.cyclegan import CycleGAN
from denoiser.data import PairPatchSampler, PatchSampler, load_training_data
from denoiser.inference import pick_device
from denoiser.selfsupervised import NoiseModel
from denoiser.training_data import TrainingData
from denoiser.validation import validate
from denoiser.warmstart import load_warm_start

Progress = Callable[[dict[str, Any]], None]
ShouldStop = Callable[[], bool]


@dataclass
class TrainResult:
    out_dir: Path
    best_checkpoint: Path | None
    last_checkpoint: Path
    iterations: int
    stopped: bool
    best_metrics: dict[str, float] = field(default_factory=dict)
    history: list[dict[str, Any]] = field(default_factory=list)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def build_perceptual(cfg: TrainConfig):
    from denoiser import losses

    if cfg.perceptual_net == "none":
        return None
    if cfg.perceptual_net == "ct_encoder":
        return losses.load_ct_encoder(cfg.encoder_path, cfg.perceptual_levels)
    if cfg.perceptual_net == "vgg":
        if not cfg.vgg_path:
            raise ValueError("perceptual_net = 'vgg' needs vgg_path (a local VGG-16 state dict)")
        return losses.load_vgg_features(cfg.vgg_path, cfg.perceptual_levels)
    raise ValueError(f"unknown perceptual_net {cfg.perceptual_net!r}")


def lr_at(cfg: TrainConfig, iteration: int) -> float:
    """Constant, then linear decay to zero over the epochs from ``decay_start_epoch``."""
    start = cfg.resolved_decay_start() * cfg.iters_per_epoch
    total = cfg.epochs * cfg.iters_per_epoch
    if iteration < start or total <= start:
        return cfg.lr
    return cfg.lr * max(0.0, 1.0 - (iteration - start) / (total - start))


def model_card(
    cfg: TrainConfig,
    metrics: dict[str, Any],
    iteration: int,
    input_range: dict[str, list[float]] | None = None,
) -> dict[str, Any]:
    """``input_range``: what ``denoiser.guard`` measured on the LD training slices; the
    loaded model warns about inputs outside it."""
    return {
        "name": cfg.name,
        "version": cfg.version,
        "method": "unpaired CycleGAN, attention U-Net generator, perceptual loss (CT encoder)",
        "training_data": _data_line(cfg),
        "input_range": input_range,
        "dose_range": [cfg.dose_min, cfg.dose_max],
        "hu_window": [cfg.hu_min, cfg.hu_max],
        "iterations": iteration,
        "validation": metrics,
        "intended_use": "research use only, not for clinical diagnosis",
    }


def _data_line(cfg: TrainConfig) -> str:
    n, size = cfg.sim_slices_per_domain, f"{cfg.sim_size}x{cfg.sim_size}"
    if cfg.data_source == "simulated":
        return f"simulated: {n} LD + {n} ND unpaired abdominal phantom slices of {size}"
    if cfg.data_source == "anatomy":
        return (
            f"anatomy: {n} LD + {n} ND unpaired textured phantom slices of {size} "
            f"({', '.join(cfg.anatomies)}; kernels {', '.join(cfg.kernels)}; pixels "
            f"{cfg.spacing_range_mm[0]}-{cfg.spacing_range_mm[1]} mm)"
        )
    return f"dicom: LD {cfg.ld_dirs}, ND {cfg.nd_dirs}"


class Trainer:
    def __init__(
        self, cfg: TrainConfig, data: TrainingData | None = None, warm_start: bool = True
    ) -> None:
        self.cfg = cfg
        torch.set_num_threads(max(1, cfg.threads))
        seed_everything(cfg.seed)
        self.device = pick_device(cfg.device)
        self.data = data if data is not None else load_training_data(cfg)
        rng = np.random.default_rng(cfg.seed)
        self.ld_sampler = PatchSampler(
            self.data.ld, cfg, np.random.default_rng(rng.integers(2**63))
        )
        self.nd_sampler = PatchSampler(
            self.data.nd, cfg, np.random.default_rng(rng.integers(2**63))
        )
        self.input_range = guard.training_range(self.data.ld)
        self.pair_sampler = None
        if cfg.warm_target == "truth" and cfg.lambda_synthetic > 0:
            self.pair_sampler = PairPatchSampler(
                self.data.pairs,
                cfg,
                np.random.default_rng(rng.integers(2**63)),
                cfg.warm_noise_scale,
            )
        self.model = CycleGAN(cfg, build_perceptual(cfg)).to(self.device)
        if cfg.lambda_self > 0:
            self.model.noise_model = NoiseModel.estimate(self.data.ld, cfg.patch_size)
        if cfg.warm_start_path and warm_start:  # not when resuming: last.pt has the weights
            load_warm_start(cfg, self.model.G_ld2nd)
        self.ema = WeightAverage(self.model.G_ld2nd, cfg.ema_decay) if cfg.ema_decay > 0 else None
        self.out = Path(cfg.out_dir)
        self.out.mkdir(parents=True, exist_ok=True)
        self.iteration = 0
        self.best: dict[str, float] = {}
        self.history: list[dict[str, Any]] = []
        self.calibrated = False

    # ---- state ---------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        m = self.model
        return {
            "G_ld2nd": m.G_ld2nd.state_dict(),
            "G_nd2ld": m.G_nd2ld.state_dict(),
            **({"G_ld2nd_ema": self.ema.net.state_dict()} if self.ema else {}),
            "D_nd": m.D_nd.state_dict(),
            "D_ld": m.D_ld.state_dict(),
            "opt_G": m.opt_G.state_dict(),
            "opt_D": m.opt_D.state_dict(),
            "iteration": self.iteration,
            "lambda_perceptual": m.lambda_perceptual,
            "calibrated": self.calibrated,
            "best": self.best,
            "history": self.history,
            "torch_rng": torch.get_rng_state(),
            "ld_rng": self.ld_sampler.rng.bit_generator.state,
            "nd_rng": self.nd_sampler.rng.bit_generator.state,
            "pair_rng": self.pair_sampler.rng.bit_generator.state if self.pair_sampler else None,
            "pool_nd": [t.cpu() for t in m.pool_nd.images],
            "pool_ld": [t.cpu() for t in m.pool_ld.images],
            "pool_rng": [list(m.pool_nd.rng.getstate()[1]), list(m.pool_ld.rng.getstate()[1])],
        }

    def save_last(self) -> Path:
        return ckpt.write_checkpoint(
            self.out / "last.pt",
            "training_state",
            self.cfg.generator.to_dict(),
            config=self.cfg.to_dict(),
            metrics=self.best,
            model_card=model_card(self.cfg, self.best, self.iteration, self.input_range),
            state=self.state(),
        )

    def resume(self) -> bool:
        path = self.out / "last.pt"
        if not path.exists():
            return False
        payload = ckpt.load_checkpoint_file(path, expected_kind="training_state")
        s, m = payload["state"], self.model
        for name in ("G_ld2nd", "G_nd2ld", "D_nd", "D_ld"):
            ckpt.load_into(path, getattr(m, name), s[name])
        if self.ema is not None:
            # A run started without an average starts one from the weights it has now.
            ckpt.load_into(path, self.ema.net, s.get("G_ld2nd_ema", s["G_ld2nd"]))
        m.opt_G.load_state_dict(s["opt_G"])
        m.opt_D.load_state_dict(s["opt_D"])
        m.lambda_perceptual = s["lambda_perceptual"]
        self.calibrated = s["calibrated"]
        self.iteration, self.best, self.history = s["iteration"], s["best"], s["history"]
        torch.set_rng_state(s["torch_rng"])
        self.ld_sampler.rng.bit_generator.state = s["ld_rng"]
        self.nd_sampler.rng.bit_generator.state = s["nd_rng"]
        if self.pair_sampler is not None and s.get("pair_rng"):
            self.pair_sampler.rng.bit_generator.state = s["pair_rng"]
        m.pool_nd.images = [t.to(self.device) for t in s["pool_nd"]]
        m.pool_ld.images = [t.to(self.device) for t in s["pool_ld"]]
        m.pool_nd.rng.setstate((3, tuple(s["pool_rng"][0]), None))
        m.pool_ld.rng.setstate((3, tuple(s["pool_rng"][1]), None))
        return True

    def export_generator(self, metrics: dict[str, Any], path: Path, half: bool = False) -> Path:
        return ckpt.write_checkpoint(
            path,
            "generator",
            self.cfg.generator.to_dict(),
            self.denoiser().state_dict(),
            config=self.cfg.to_dict(),
            metrics=metrics,
            model_card=model_card(self.cfg, metrics, self.iteration, self.input_range),
            half=half,
        )

    def denoiser(self) -> torch.nn.Module:
        """The LD->ND generator that is validated and exported: the average when kept."""
        return self.ema.net if self.ema is not None else self.model.G_ld2nd

    # ---- loop ----------------------------------------------------------------------------
    def batches(self) -> tuple[torch.Tensor, torch.Tensor]:
        bs = self.cfg.batch_size
        ld = self.ld_sampler.sample(bs).to(self.device)
        nd = self.nd_sampler.sample(bs).to(self.device)
        return ld, nd

    def autocast(self):
        if self.cfg.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return nullcontext()

    def run(self, progress: Progress | None = None, should_stop: ShouldStop | None = None):
        cfg, emit = self.cfg, progress or (lambda event: None)
        self.cfg.save_json(self.out / "config.json")
        if not self.calibrated:
            self.model.calibrate_perceptual(self.batches()[0])
            self.calibrated = True
        total = cfg.epochs * cfg.iters_per_epoch
        stopped, window, t0 = False, [], time.perf_counter()
        bar = _progress_bar(total, self.iteration)
        while self.iteration < total:
            if should_stop and should_stop():
                stopped = True
                break
            self.model.set_lr(lr_at(cfg, self.iteration))
            ld, nd = self.batches()
            pair = None
            if self.pair_sampler is not None:
                pair = tuple(t.to(self.device) for t in self.pair_sampler.sample(cfg.batch_size))
            window.append(self.model.train_step(ld, nd, self.autocast(), pair))
            if self.ema is not None:
                self.ema.update(self.model.G_ld2nd, self.iteration)
            self.iteration += 1
            bar.update(1)
            if self.iteration % cfg.log_every == 0 or self.iteration == total:
                event = self._log(window, time.perf_counter() - t0, total)
                bar.set_postfix(
                    g=f"{event['losses']['total']:.3f}", d=f"{event['losses']['D_total']:.3f}"
                )
                emit(event)
                window, t0 = [], time.perf_counter()
            if self.iteration % cfg.iters_per_epoch == 0:
                emit(self._end_epoch(total))
            elif self.iteration % cfg.checkpoint_every == 0:
                self.save_last()
                emit({"event": "saved", "stage": "cyclegan", "iteration": self.iteration})
        bar.close()
        last = self.save_last()
        best = self.out / "best.pt"
        emit(
            {
                "event": "done",
                "stopped": stopped,
                "best_metrics": self.best,
                "checkpoint": str(best if best.exists() else last),
            }
        )
        return TrainResult(
            self.out,
            best if best.exists() else None,
            last,
            self.iteration,
            stopped,
            self.best,
            self.history,
        )

    def _log(self, window: list[dict[str, float]], seconds: float, total: int) -> dict[str, Any]:
        mean = {k: float(np.mean([w[k] for w in window])) for k in window[0]}
        event = {
            "event": "iteration",
            "epoch": (self.iteration - 1) // self.cfg.iters_per_epoch + 1,
            "iteration": self.iteration,
            "total_iterations": total,
            "lr": lr_at(self.cfg, self.iteration - 1),
            "lambda_perceptual": self.model.lambda_perceptual,
            "seconds_per_iteration": seconds / len(window),
            "losses": mean,
        }
        with (self.out / "log.jsonl").open("a") as fh:
            fh.write(json.dumps(event) + "\n")
        return event

    def _end_epoch(self, total: int) -> dict[str, Any]:
        epoch = self.iteration // self.cfg.iters_per_epoch
        metrics = validate(self.denoiser(), self.data.val, self.cfg, self.device)
        key = self.cfg.best_metric
        is_best = bool(metrics) and metrics.get(key, -np.inf) > self.best.get(key, -np.inf)
        if is_best or not self.best:
            self.best = {**metrics, "epoch": epoch, "iteration": self.iteration}
            self.export_generator(self.best, self.out / "best.pt")
        every = self.cfg.snapshot_every_epochs
        if every > 0 and epoch % every == 0:
            tagged = {**metrics, "epoch": epoch, "iteration": self.iteration}
            path = self.out / "snapshots" / f"epoch_{epoch:04d}.pt"
            path.parent.mkdir(exist_ok=True)
            self.export_generator(tagged, path, half=True)
        self.history.append({"epoch": epoch, "iteration": self.iteration, **metrics})
        _append_csv(self.out / "metrics.csv", self.history[-1])
        self.save_last()
        return {
            "event": "epoch",
            "epoch": epoch,
            "iteration": self.iteration,
            "total_iterations": total,
            "metrics": metrics,
            "best": is_best,
        }


class WeightAverage:
    """An exponential moving average of a network's weights, in a copy of the network."""

    def __init__(self, net: torch.nn.Module, decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ema_decay must be at least 0 and below 1, not {decay}")
        self.net = copy.deepcopy(net).eval().requires_grad_(False)
        self.decay = decay

    @torch.no_grad()
    def update(self, net: torch.nn.Module, step: int) -> None:
        # Warm-up: early on the average follows closely, so it never holds mostly the
        # random initial weights (a run stopped early still exports a trained network).
        decay = min(self.decay, (1.0 + step) / (10.0 + step))
        current = net.state_dict()
        for name, average in self.net.state_dict().items():
            if average.is_floating_point():
                average.lerp_(current[name], 1.0 - decay)
            else:
                average.copy_(current[name])


def _append_csv(path: Path, row: dict[str, Any]) -> None:
    """One row more; a metric the file has no column for (a run resumed across a version
    that added one) widens the header, so every row stays under its own names."""
    rows: list[dict[str, Any]] = []
    fields = list(row)
    if path.exists():
        with path.open(newline="") as fh:
            known = next(csv.reader(fh), [])  # the header only: the common case appends
        fields = known + [k for k in row if k not in known]
        if fields == known:
            with path.open("a", newline="") as fh:
                csv.DictWriter(fh, fieldnames=fields).writerow(row)
            return
        with path.open(newline="") as fh:
            rows = list(csv.DictReader(fh))
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=fields)
        writer.writeheader()
        writer.writerows([*rows, row])


def _progress_bar(total: int, initial: int):
    from tqdm import tqdm

    return tqdm(total=total, initial=initial, unit="it", dynamic_ncols=True, mininterval=5)


def train(
    cfg: TrainConfig,
    progress: Progress | None = None,
    should_stop: ShouldStop | None = None,
    *,
    resume: bool = True,
    data: TrainingData | None = None,
) -> TrainResult:
    """Train (resuming from ``out_dir/last.pt`` when it exists and ``resume``)."""
    resuming = resume and (Path(cfg.out_dir) / "last.pt").exists()
    trainer = Trainer(cfg, data, warm_start=not resuming)
    if resuming:
        trainer.resume()
    return trainer.run(progress, should_stop)
