"""Inference speed of generator variants at 512x512 on CPU (slices/s, peak RSS).

python benchmarks/denoiser/speed.py [--threads 2] [--batch 4] [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import time

import torch

from denoiser.networks import GeneratorSpec, build_generator, count_parameters

VARIANTS = {
    "plain_full_res_b16": GeneratorSpec(kind="plain_unet", base_width=16, stem=1, norm="instance"),
    "attn_full_res_b16": GeneratorSpec(base_width=16, stem=1, norm="instance"),
    "attn_stem2_b32": GeneratorSpec(base_width=32, stem=2),
    "attn_stem2_b24": GeneratorSpec(base_width=24, stem=2),
    "attn_stem2_b32_group": GeneratorSpec(base_width=32, stem=2, norm="group"),
    "attn_stem4_b32": GeneratorSpec(base_width=32, stem=4, depth=4),
    "attn_stem4_b48": GeneratorSpec(base_width=48, stem=4, depth=4, max_width=192),
}


def time_variant(spec: GeneratorSpec, batch: int, repeats: int, size: int) -> float:
    net = build_generator(spec).eval().to(memory_format=torch.channels_last)
    x = torch.randn(batch, 1, size, size).to(memory_format=torch.channels_last)
    with torch.inference_mode():
        net(x)
        start = time.perf_counter()
        for _ in range(repeats):
            net(x)
    return batch * repeats / (time.perf_counter() - start)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--batch", type=int, default=4)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--only", nargs="*", default=None)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    for name, spec in VARIANTS.items():
        if args.only and name not in args.only:
            continue
        sps = time_variant(spec, args.batch, args.repeats, args.size)
        params = count_parameters(build_generator(spec))
        print(f"{name:24s} params={params / 1e6:6.2f}M  {sps:6.2f} slices/s")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
