"""One lent-GPU session as one command: inference speed, then CycleGAN runs side by side.

    python benchmarks/denoiser/gpu_session.py --out DIR --minutes 8.5

A lent GPU comes for minutes, so this does in one go, each step bounded by the deadline:
1. ``speed_gpu.py``: inference throughput in bf16 (``DIR/speed_gpu.jsonl``);
2. the simulated training set of the default config, on every CPU core;
3. the self-supervised warm start of the denoiser, on the GPU (``--reuse-warm-start``: the
   file at ``warm_start_path`` instead, e.g. the CPU-trained one of the shipped recipe);
4. ``train_profile.py``: one run's iteration rate alone and where its time goes;
5. the recipes in ``GPU_RECIPES``, one process each on the one GPU, until the deadline,
   each keeping a snapshot per epoch and validating with the texture ratio;
6. ``DIR/run_<name>.tar`` per recipe: config, logs, ``metrics.csv`` and a few snapshots
   (best validation PSNR, best texture at the noise goal, the last), for
   ``python -m denoiser evaluate`` on the held-out set back home; ``DIR/extras.tar`` holds the
   steps' logs (and the warm start when trained here). With four recipes that is 8 files at
   most, the device tool's limit, if the command tees its output to ``DIR/session.log``.

``--set key=value`` goes to every run (``--set sim_size=128`` and the like for a dry run
on a CPU with ``--device cpu``). Results of the sessions that ran it:
``benchmarks/denoiser/results/recipes/gpu.md``.
"""

from __future__ import annotations

import argparse
import csv
import math
import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))  # runnable as a plain script: the root holds denoiser/

CONFIG = ROOT / "denoiser" / "configs" / "default.toml"

# Longer runs and larger batches than a CPU allows: the shipped recipe (default.toml), and
# the two levers that could buy ND's noise texture, alone and together: less of the warm
# start's task (mean-squared, hence plastic) and more of the discriminators (which ask for
# ND's texture).
GPU_RECIPES: dict[str, list[str]] = {
    "b16": [],
    "b16_syn10": ["lambda_synthetic=10.0"],
    "b16_adv10": ["lambda_adv=10.0"],
    "b16_syn10_adv10": ["lambda_synthetic=10.0", "lambda_adv=10.0"],
}
GPU_COMMON = [
    "batch_size=16",
    "iters_per_epoch=500",
    "epochs=1000",  # the deadline ends the run; the rate stays constant
    "decay_start_epoch=1000",
    "snapshot_every_epochs=1",
    "checkpoint_every=500",
    "log_every=50",
]
PROFILE_S = 90  # train_profile.py: one run's iteration rate alone, and where its time goes
PACKAGING_S = 30  # what the end needs: snapshots chosen and packed


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


def run_logged(cmd: list[str], logfile: Path, timeout: float) -> int:
    log(" ".join(cmd))
    with logfile.open("w") as fh:
        try:
            return subprocess.run(
                cmd, stdout=fh, stderr=subprocess.STDOUT, timeout=timeout, cwd=ROOT
            ).returncode
        except subprocess.TimeoutExpired:
            return -9


def speed(args, out: Path, left: float) -> None:
    cmd = [
        sys.executable,
        str(ROOT / "benchmarks/denoiser/speed_gpu.py"),
        "--out",
        str(out / "speed_gpu.jsonl"),
    ]
    cmd += ["--device", args.device] + args.speed_args.split()
    rc = run_logged(cmd, out / "speed_gpu.log", min(args.speed_s, left))
    log(f"speed: rc {rc}\n" + (out / "speed_gpu.log").read_text()[-3000:])


def simulation_cache(cfg) -> None:
    from denoiser.simdata import simulated_training_data

    start = time.perf_counter()
    data = simulated_training_data(cfg, workers=os.cpu_count() or 1)
    n = len(data.ld) + len(data.nd) + (len(data.val.ld) if data.val else 0)
    log(f"simulation cache: {n} slices in {time.perf_counter() - start:.0f} s")


def overrides(args, extra: list[str]) -> list[str]:
    items = [f'device="{args.device}"'] + GPU_COMMON + list(args.set or []) + extra
    return [x for item in items for x in ("--set", item)]


def launch(args, name: str, extra: list[str], runs: Path) -> subprocess.Popen:
    out_dir = runs / name
    # A fresh run every session: one left by an earlier session would be resumed, its epochs
    # and snapshots mixed with this one's.
    shutil.rmtree(out_dir, ignore_errors=True)
    out_dir.mkdir(parents=True)
    cmd = [sys.executable, "-m", "denoiser", "train", "--config", str(CONFIG)]
    cmd += overrides(args, extra + [f'out_dir="{out_dir}"'])
    log(f"{name}: " + " ".join(cmd))
    fh = (out_dir / "train.log").open("w")
    return subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, cwd=ROOT)


def read_history(run: Path) -> list[dict[str, float]]:
    path = run / "metrics.csv"
    if not path.exists():
        return []
    with path.open() as fh:
        return [
            {k: float(v) for k, v in row.items() if k and v not in ("", None)}
            for row in csv.DictReader(fh)
        ]


def chosen_epochs(history: list[dict[str, float]], keep: int) -> list[int]:
    """Best PSNR vs truth; best texture among epochs at the noise goal; best PSNR among epochs
    at both goals; the last. Then evenly spread ones up to ``keep``."""
    if not history:
        return []
    picks = [max(history, key=lambda h: h.get("psnr_truth", -1))]
    quiet = [h for h in history if h.get("liver_sd", 1e9) <= 0.5 * h.get("liver_sd_input", 0)]
    ratio = [h for h in quiet if not math.isnan(h.get("nps_peak_ratio", math.nan))]
    if ratio:
        picks.append(min(ratio, key=lambda h: abs(h["nps_peak_ratio"] - 1)))
        both = [h for h in ratio if 0.75 <= h["nps_peak_ratio"] <= 1.25]
        if both:
            picks.append(max(both, key=lambda h: h["psnr_truth"]))
    picks.append(history[-1])
    epochs = list(dict.fromkeys(int(h["epoch"]) for h in picks))
    spread = [
        int(history[round(i * (len(history) - 1) / max(1, keep - 1))]["epoch"]) for i in range(keep)
    ]
    for e in spread:
        if len(epochs) >= keep:
            break
        if e not in epochs:
            epochs.append(e)
    return epochs[:keep]


def pack(run: Path, dest: Path, keep: int) -> None:
    epochs = chosen_epochs(read_history(run), keep)
    with tarfile.open(dest, "w") as tar:
        for name in ("config.json", "metrics.csv", "log.jsonl", "train.log"):
            if (run / name).exists():
                tar.add(run / name, arcname=f"{run.name}/{name}")
        for e in epochs:
            snap = run / "snapshots" / f"epoch_{e:04d}.pt"
            if snap.exists():
                tar.add(snap, arcname=f"{run.name}/snapshots/{snap.name}")
    log(f"{dest.name}: epochs {epochs}, {dest.stat().st_size / 2**20:.1f} MiB")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", type=Path, required=True)
    ap.add_argument(
        "--minutes", type=float, default=8.5, help="the whole session, packing included"
    )
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--recipes", default=",".join(GPU_RECIPES))
    ap.add_argument("--set", action="append", help="key=value for every run")
    ap.add_argument("--speed-args", default="--compile", help="passed to speed_gpu.py")
    ap.add_argument("--speed-s", type=float, default=100.0)
    ap.add_argument("--no-speed", action="store_true")
    ap.add_argument("--reuse-warm-start", action="store_true")
    ap.add_argument("--no-profile", action="store_true", help="skip train_profile.py")
    ap.add_argument("--profile-steps", type=int, default=50)
    ap.add_argument("--keep", type=int, default=4, help="snapshots brought back per run")
    args = ap.parse_args()
    deadline = time.monotonic() + 60 * args.minutes
    args.out = args.out.resolve()
    os.chdir(ROOT)  # the config's relative paths (cache, warm start) are the repository's
    args.out.mkdir(parents=True, exist_ok=True)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ["PYTHONUNBUFFERED"] = "1"

    if not args.no_speed:
        speed(args, args.out, deadline - time.monotonic() - PACKAGING_S)

    from denoiser.cli import _config

    ns = argparse.Namespace(
        config=str(CONFIG), set=[o for o in overrides(args, []) if o != "--set"]
    )
    cfg = _config(ns)
    simulation_cache(cfg)
    trained_warm = not (args.reuse_warm_start and (ROOT / cfg.warm_start_path).exists())
    if trained_warm:
        left = deadline - time.monotonic() - PACKAGING_S
        warm = [sys.executable, "-m", "denoiser", "pretrain-generator", "--config", str(CONFIG)]
        rc = run_logged(warm + overrides(args, []), args.out / "warm_start.log", left)
        log(f"warm start: rc {rc}\n" + (args.out / "warm_start.log").read_text()[-1500:])
        if rc != 0:
            return

    if not args.no_profile:
        prof = [sys.executable, str(ROOT / "benchmarks/denoiser/train_profile.py")]
        prof += ["--steps", str(args.profile_steps), "--out", str(args.out / "train_profile.jsonl")]
        left = deadline - time.monotonic() - PACKAGING_S
        rc = run_logged(
            prof + overrides(args, []), args.out / "train_profile.log", min(PROFILE_S, left / 3)
        )
        log(f"training profile: rc {rc}\n" + (args.out / "train_profile.log").read_text()[:3000])

    runs = ROOT / "denoiser" / "runs" / "gpu"
    procs = {name: launch(args, name, GPU_RECIPES[name], runs) for name in args.recipes.split(",")}
    while time.monotonic() < deadline - PACKAGING_S and any(
        p.poll() is None for p in procs.values()
    ):
        time.sleep(5)
    for name, p in procs.items():
        if p.poll() is None:
            p.terminate()
        log(
            f"{name}: rc {p.wait()}; "
            + (runs / name / "train.log").read_text()[-400:].replace("\r", "\n")
        )
    for name in procs:
        pack(runs / name, args.out / f"run_{name}.tar", args.keep)
    pack_extras(args.out, ROOT / cfg.warm_start_path if trained_warm else None)


def pack_extras(out: Path, warm: Path | None) -> None:
    """The step logs (and a warm start trained here) in one file: the device tool brings back
    at most 8 files, and the runs' tars, the JSON lines and the session log take the rest."""
    logs = [p for p in sorted(out.glob("*.log")) if p.name != "session.log"]
    with tarfile.open(out / "extras.tar", "w") as tar:
        for path in logs:
            tar.add(path, arcname=path.name)
        if warm is not None:
            tar.add(warm, arcname="warm/generator.pt")
    for path in logs:
        path.unlink()


if __name__ == "__main__":
    main()
