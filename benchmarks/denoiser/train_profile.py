"""Where a CycleGAN training iteration spends its time, on this machine's device.

    python benchmarks/denoiser/train_profile.py --set batch_size=16          # CUDA when present
    python benchmarks/denoiser/train_profile.py --device cpu --steps 5 --set patch_size=32

Three measurements of the shipped recipe's training step (``default.toml``, warm start not
loaded: the cost per iteration does not depend on the weights):
1. iterations/s of the loop as ``Trainer.run`` drives it (no extra synchronisation);
2. the same steps split into patch sampling (CPU), the training step and the weight average,
   each timed to the device's completion;
3. ``torch.profiler``'s top operators by device time (CPU time on a CPU).
The first GPU session measured 8.2 it/s per run with four runs sharing an H100
(``results/recipes/gpu.md``); this tells launches, host work and GPU work apart.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # runnable as a plain script: the root holds denoiser/

import torch  # noqa: E402

from denoiser.cli import _config  # noqa: E402
from denoiser.train import Trainer  # noqa: E402


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def loop_rate(tr: Trainer, steps: int) -> float:
    sync(tr.device)
    start = time.perf_counter()
    for _ in range(steps):
        ld, nd = tr.batches()
        tr.model.train_step(ld, nd, tr.autocast())
        if tr.ema is not None:
            tr.ema.update(tr.model.G_ld2nd, tr.iteration)
    sync(tr.device)
    return steps / (time.perf_counter() - start)


def phases(tr: Trainer, steps: int) -> dict[str, float]:
    """Milliseconds per step of each phase, each waited for."""
    totals = {"sample_ms": 0.0, "train_step_ms": 0.0, "weight_average_ms": 0.0}
    for _ in range(steps):
        t0 = time.perf_counter()
        ld, nd = tr.batches()
        sync(tr.device)
        t1 = time.perf_counter()
        tr.model.train_step(ld, nd, tr.autocast())
        sync(tr.device)
        t2 = time.perf_counter()
        if tr.ema is not None:
            tr.ema.update(tr.model.G_ld2nd, tr.iteration)
        sync(tr.device)
        t3 = time.perf_counter()
        for key, dt in zip(totals, (t1 - t0, t2 - t1, t3 - t2), strict=True):
            totals[key] += 1000 * dt / steps
    return totals


def top_operators(tr: Trainer, steps: int, rows: int) -> str:
    from torch.profiler import ProfilerActivity, profile

    acts = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if tr.device.type == "cuda" else [])
    with profile(activities=acts) as prof:
        loop_rate(tr, steps)
    key = "device_time_total" if tr.device.type == "cuda" else "cpu_time_total"
    return prof.key_averages().table(sort_by=key, row_limit=rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--config", default=str(ROOT / "denoiser/configs/default.toml"))
    ap.add_argument("--set", action="append", default=[], help="key=value, as for train")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--steps", type=int, default=50)
    ap.add_argument("--rows", type=int, default=15)
    ap.add_argument("--out", type=Path, help="append the JSON summary here")
    args = ap.parse_args()
    args.out = args.out.resolve() if args.out else None
    os.chdir(ROOT)  # the config's relative paths (cache, encoder) are the repository's
    sets = [f'device="{args.device}"', 'warm_start_path=""', *args.set]
    cfg = _config(argparse.Namespace(config=args.config, set=sets))
    tr = Trainer(cfg, warm_start=False)
    tr.model.calibrate_perceptual(tr.batches()[0])
    loop_rate(tr, max(3, args.steps // 5))  # warm-up: cuDNN picks kernels, caches fill
    row = {
        "device": str(tr.device),
        "gpu": torch.cuda.get_device_name() if tr.device.type == "cuda" else "",
        "batch_size": cfg.batch_size,
        "patch_size": cfg.patch_size,
        "amp": cfg.amp,
        "iterations_per_s": loop_rate(tr, args.steps),
        **phases(tr, args.steps),
    }
    print(json.dumps(row), flush=True)
    print(top_operators(tr, max(2, args.steps // 5), args.rows), flush=True)
    if args.out:
        with args.out.open("a") as fh:
            fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
