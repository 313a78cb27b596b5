"""Inference speed at 512x512 on this machine: slices/s and peak memory, BM3D alongside.

    python benchmarks/denoiser/speed.py                     # shipped model vs BM3D
    python benchmarks/denoiser/speed.py --variants          # generator design variants too
    python benchmarks/denoiser/speed.py --checkpoint PATH --threads 2 --slices 16

The shipped model is timed through the public API (``Denoiser.denoise``,
batching, HU conversion and all), so the number is what a worker gets.
Peak memory is the process's peak RSS growth during that call. Results are
appended as JSON lines to ``benchmarks/denoiser/results/speed.jsonl``.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a plain script from anywhere: the repository root holds the denoiser package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import json
import platform
import resource
import time
from datetime import UTC, datetime

import numpy as np
import torch

from denoiser.networks import GeneratorSpec, build_generator, count_parameters

RESULTS = Path(__file__).parent / "results" / "speed.jsonl"

VARIANTS = {
    "plain_unet_full_res_b16_instnorm": GeneratorSpec(
        kind="plain_unet", base_width=16, stem=1, norm="instance"
    ),
    "attn_unet_full_res_b16_instnorm": GeneratorSpec(base_width=16, stem=1, norm="instance"),
    "attn_unet_stem2_b32": GeneratorSpec(base_width=32, stem=2),
    "attn_unet_stem2_b24_w96 (default)": GeneratorSpec(base_width=24, stem=2, max_width=96),
    "attn_unet_stem2_b24_groupnorm": GeneratorSpec(
        base_width=24, stem=2, max_width=96, norm="group"
    ),
    "attn_unet_stem4_b32": GeneratorSpec(base_width=32, stem=4),
}


def peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def test_volume(n: int, size: int = 512) -> np.ndarray:
    from denoiser.ctsim import simulate_dose
    from denoiser.phantoms import abdominal_phantom

    ph = abdominal_phantom(size, seed=2_099_999)  # evaluation-range seed: never trained on
    ld = simulate_dose(ph.hu, 0.25, rng=0, n_views=360)
    return np.repeat(ld[None], n, axis=0)


def time_denoiser(
    checkpoint: str | None, vol: np.ndarray, batch: int, ensemble: int | None = None
) -> dict:
    from denoiser import Denoiser

    d = Denoiser.load(checkpoint, device="cpu", batch_size=batch, self_ensemble=ensemble)
    d.denoise(vol[:batch])  # warm-up: oneDNN picks kernels on first call
    rss0 = peak_rss_mib()
    start = time.perf_counter()
    d.denoise(vol)
    seconds = time.perf_counter() - start
    return {
        "what": f"Denoiser {d.name} {d.version}, self-ensemble {d.ensemble}",
        "slices_per_s": len(vol) / seconds,
        "s_per_slice": seconds / len(vol),
        "peak_rss_mib": peak_rss_mib(),
        "peak_rss_growth_mib": peak_rss_mib() - rss0,
        "params": count_parameters(d.net),
    }


def time_bm3d(vol: np.ndarray, n: int) -> dict:
    import bm3d

    start = time.perf_counter()
    for img in vol[:n]:
        bm3d.bm3d(img / 400.0, sigma_psd=60.0 / 400.0)
    seconds = (time.perf_counter() - start) / n
    return {
        "what": "BM3D (bm3d package, sigma from ROI)",
        "s_per_slice": seconds,
        "slices_per_s": 1 / seconds,
    }


def time_variant(spec: GeneratorSpec, batch: int, repeats: int, size: int = 512) -> dict:
    net = build_generator(spec).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, size, size).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        net(x)
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
    sps = batch * repeats / (time.perf_counter() - start)
    return {"slices_per_s": sps, "params": count_parameters(net)}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--checkpoint", default=None, help="default: the shipped model")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument(
        "--self-ensemble", type=int, default=None, help="1, 2, 4 or 8 (default: the model's)"
    )
    ap.add_argument("--slices", type=int, default=16)
    ap.add_argument("--bm3d-slices", type=int, default=1)
    ap.add_argument("--variants", action="store_true", help="also time design variants")
    ap.add_argument("--no-save", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    env = {
        "threads": args.threads,
        "cpu": platform.processor() or platform.machine(),
        "torch": torch.__version__,
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    vol = test_volume(args.slices)
    rows = [time_denoiser(args.checkpoint, vol, args.batch, args.self_ensemble)]
    if args.bm3d_slices:
        rows.append(time_bm3d(vol, args.bm3d_slices))
    if args.variants:
        for name, spec in VARIANTS.items():
            rows.append({"what": f"generator {name}", **time_variant(spec, args.batch, 2)})
    for row in rows:
        row.update(env)
        print(json.dumps(row))
    if not args.no_save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with RESULTS.open("a") as fh:
            fh.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
