"""Upper reference: the shipped generator architecture trained WITH pairs (LD -> truth).

Not a method the platform offers (clinical data has no noise-free truth); it answers one
question: can this network denoise this data at all in a CPU budget, or is the unpaired
objective what limits it? Pairs come from the ND-domain training phantoms (the same seeds
the CycleGAN's ND domain uses) scanned at a dose drawn in [dose_min, dose_max] with their
noise-free reconstruction; validation is the CycleGAN's validation set (PSNR vs truth,
[-160, 240] HU, and liver ROI noise SD).

    python benchmarks/denoiser/supervised_reference.py --iters 4000   # ~6 min at one thread

``--save PATH`` writes the trained network as a generator checkpoint, so the held-out
benchmark (``python -m denoiser evaluate --checkpoint PATH``) and ``nps_bands.py`` take it.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402

from denoiser import checkpoint as ckpt  # noqa: E402
from denoiser import ctsim, metrics, simdata  # noqa: E402
from denoiser.config import TrainConfig  # noqa: E402
from denoiser.data import hu_to_unit, unit_to_hu  # noqa: E402
from denoiser.networks import build_generator  # noqa: E402
from denoiser.phantoms import abdominal_phantom  # noqa: E402


def pairs(cfg: TrainConfig, cache: Path) -> list[tuple[np.ndarray, np.ndarray]]:
    """(LD, truth) in unit space for every ND-domain phantom, simulated once and cached."""
    _ld_seeds, nd_seeds, _ = simdata.training_seeds(cfg)
    cache.mkdir(parents=True, exist_ok=True)
    out = []
    for seed in nd_seeds:
        path = cache / f"pair_s{seed}_n{cfg.sim_size}.npz"
        if not path.exists():
            phantom = abdominal_phantom(cfg.sim_size, seed=seed)
            dose = float(np.random.default_rng([seed, 0xD05E]).uniform(cfg.dose_min, cfg.dose_max))
            series = ctsim.simulate_doses(
                phantom.hu,
                [dose],
                rng=np.random.default_rng([seed, 0x77]),
                pixel_spacing_mm=phantom.pixel_spacing_mm,
            )
            np.savez_compressed(path, ld=series.ld[dose], truth=series.truth)
        with np.load(path) as z:
            out.append(
                (
                    hu_to_unit(z["ld"], cfg.hu_min, cfg.hu_max),
                    hu_to_unit(z["truth"], cfg.hu_min, cfg.hu_max),
                )
            )
    return out


def batch(data, rng: np.random.Generator, n: int, p: int) -> tuple[torch.Tensor, torch.Tensor]:
    xs, ys = [], []
    for _ in range(n):
        x, y = data[rng.integers(len(data))]
        body = np.argwhere(y > -0.75)  # inside the body (above about -500 HU)
        cy, cx = body[rng.integers(len(body))]
        top = int(np.clip(cy - p // 2, 0, y.shape[0] - p))
        left = int(np.clip(cx - p // 2, 0, y.shape[1] - p))
        xs.append(x[top : top + p, left : left + p])
        ys.append(y[top : top + p, left : left + p])
    return torch.from_numpy(np.stack(xs)[:, None]), torch.from_numpy(np.stack(ys)[:, None])


def validate(net, cfg: TrainConfig) -> tuple[float, float]:
    val = simdata.simulated_training_data(cfg).val
    net.eval()
    with torch.inference_mode():
        x = torch.from_numpy(hu_to_unit(val.ld, cfg.hu_min, cfg.hu_max))[:, None]
        out = unit_to_hu(net(x), cfg.hu_min, cfg.hu_max)[:, 0].numpy()
    net.train()
    psnr = np.mean([metrics.psnr(o, t) for o, t in zip(out, val.truth, strict=True)])
    sd = np.mean([metrics.noise_sd(o, r) for o, r in zip(out, val.liver_rois, strict=True)])
    return float(psnr), float(sd)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--config", default=str(ROOT / "denoiser" / "configs" / "default.toml"))
    ap.add_argument("--iters", type=int, default=4000)
    ap.add_argument("--cache", default=str(ROOT / "denoiser" / "runs" / "cache-pairs"))
    ap.add_argument("--save", type=Path, help="write the network here (generator checkpoint)")
    args = ap.parse_args()
    torch.set_num_threads(1)
    cfg = TrainConfig.load(args.config)
    data = pairs(cfg, Path(args.cache))
    torch.manual_seed(cfg.seed)
    rng = np.random.default_rng(cfg.seed)
    net = build_generator(cfg.generator)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    t0 = time.perf_counter()
    for it in range(1, args.iters + 1):
        x, y = batch(data, rng, cfg.batch_size, cfg.patch_size)
        loss = F.mse_loss(net(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if it % 250 == 0:
            psnr, sd = validate(net, cfg)
            seconds = time.perf_counter() - t0
            print(f"{it} {seconds:.0f}s PSNR vs truth {psnr:.2f} dB, liver SD {sd:.1f} HU")
    if args.save:
        card = {"name": "supervised-reference", "version": f"{args.iters}-iterations"}
        card["intended_use"] = "benchmark reference only (trained with noise-free truth)"
        card["method"] = f"supervised: MSE to the noise-free truth, {args.iters} iterations"
        card["training_data"] = "LD/truth pairs of the ND-domain training phantoms"
        arch, config = cfg.generator.to_dict(), cfg.to_dict()
        path = ckpt.write_checkpoint(
            args.save, "generator", arch, net.state_dict(), config=config, model_card=card
        )
        print(f"written to {path}")


if __name__ == "__main__":
    main()
