"""GPU inference speed at 512x512: slices/s through ``Denoiser.denoise`` and of the network alone.

    python benchmarks/denoiser/speed_gpu.py                       # shipped model, CUDA, bf16
    python benchmarks/denoiser/speed_gpu.py --slices 2048 --batches 32,64,128 --compile

Two numbers per setting:
- ``denoise``: the public API on a float32 HU volume in host memory (what a GPU worker
  gets: host-to-device copy, HU conversion, network, input rules, copy back);
- ``network``: the generator alone on a batch already on the GPU (the ceiling).
Both in bf16 autocast (``Denoiser``'s default on CUDA), NCHW and channels_last. The bf16
result is compared with an fp32 run of the same slices (max and RMS difference in HU), so
the speed is quoted at the model's quality. Peak GPU memory is the allocator's peak.
Rows are appended as JSON lines to ``--out``.
"""

from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import json
import platform
import time
from datetime import UTC, datetime

import numpy as np
import torch

from denoiser import Denoiser

RESULTS = Path(__file__).parent / "results" / "speed_gpu.jsonl"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def peak_mib(device: torch.device) -> float:
    return torch.cuda.max_memory_allocated() / 2**20 if device.type == "cuda" else float("nan")


def reset_peak(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()


def time_denoise(d: Denoiser, vol: np.ndarray) -> dict:
    d.denoise(vol[: 2 * d.batch_size])  # warm-up: cuDNN picks its kernels per shape
    sync(d.device)
    reset_peak(d.device)
    start = time.perf_counter()
    d.denoise(vol)
    sync(d.device)
    seconds = time.perf_counter() - start
    return {"slices_per_s": len(vol) / seconds, "peak_gpu_mib": peak_mib(d.device)}


def time_network(d: Denoiser, batch: int, repeats: int, compiled: bool = False) -> dict:
    net = torch.compile(d.net) if compiled else d.net
    x = torch.randn(batch, 1, 512, 512, device=d.device)
    if d.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    with torch.inference_mode(), d.autocast():
        for _ in range(3):
            net(x)
        sync(d.device)
        reset_peak(d.device)
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
        sync(d.device)
    seconds = time.perf_counter() - start
    return {"slices_per_s": batch * repeats / seconds, "peak_gpu_mib": peak_mib(d.device)}


def bf16_difference(checkpoint: str | None, vol: np.ndarray, device: str) -> dict:
    """How far the bf16 output lies from fp32 on the same slices (HU)."""
    fast = Denoiser.load(checkpoint, device=device, batch_size=8).denoise(vol)
    exact = Denoiser.load(checkpoint, device=device, batch_size=8, amp=False).denoise(vol)
    diff = fast.astype(np.float64) - exact
    return {"max_abs_hu": float(np.abs(diff).max()), "rms_hu": float(np.sqrt((diff**2).mean()))}


def test_volume(n: int) -> np.ndarray:
    from denoiser.ctsim import simulate_dose
    from denoiser.phantoms import abdominal_phantom

    phantom = abdominal_phantom(512, seed=2_099_999)  # evaluation-range seed: never trained on
    base = simulate_dose(phantom.hu, 0.25, rng=0, n_views=360)
    # Different noise per slice: a repeated slice could flatter caches.
    rng = np.random.default_rng(0)
    return np.stack([base + rng.normal(0, 5, base.shape).astype(np.float32) for _ in range(n)])


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model")
    ap.add_argument("--device", default="cuda")
    ap.add_argument("--slices", type=int, default=1024)
    ap.add_argument("--batches", default="16,32,64,128")
    ap.add_argument("--repeats", type=int, default=20)
    ap.add_argument("--compile", action="store_true", help="also time torch.compile")
    ap.add_argument("--layouts", default="channels_last,nchw")
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args()
    device = torch.device(args.device)
    probe = Denoiser.load(args.checkpoint, device=args.device)
    with probe.autocast():
        # What autocast runs the matrix work in (bfloat16 on an H100; float32 on a CPU).
        precision = str((torch.ones(1, 1, device=device) @ torch.ones(1, 1, device=device)).dtype)
    env = {
        "device": torch.cuda.get_device_name() if device.type == "cuda" else platform.machine(),
        "precision": precision,
        "torch": torch.__version__,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    vol = test_volume(args.slices)
    rows = [
        {
            "what": f"autocast vs fp32 on {min(16, len(vol))} slices",
            **bf16_difference(args.checkpoint, vol[:16], args.device),
        }
    ]
    emit(rows[-1], env, args.out)
    for batch in [int(b) for b in args.batches.split(",")]:
        for channels_last in [x == "channels_last" for x in args.layouts.split(",")]:
            d = Denoiser.load(
                args.checkpoint, device=args.device, batch_size=batch, channels_last=channels_last
            )
            setting = {"batch": batch, "channels_last": channels_last, "model": d.version}
            emit({"what": "denoise", **setting, **time_denoise(d, vol)}, env, args.out)
            emit(
                {"what": "network", **setting, **time_network(d, batch, args.repeats)},
                env,
                args.out,
            )
    if args.compile:
        d = Denoiser.load(args.checkpoint, device=args.device)
        setting = {"batch": 64, "channels_last": True, "model": d.version, "compiled": True}
        start = time.perf_counter()
        row = time_network(d, 64, args.repeats, compiled=True)
        row["compile_and_warmup_s"] = time.perf_counter() - start
        emit({"what": "network", **setting, **row}, env, args.out)


def emit(row: dict, env: dict, out: Path) -> None:
    row = {**row, **env}
    print(json.dumps(row), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    with out.open("a") as fh:
        fh.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
