"""Two probes at the coarse noise that keeps the NPS peak low (results/recipes/texture.md).

Every model here leaves most of the LD noise coarser than ~10 mm (below 0.10 c/mm), so its
NPS peak sits at half of ND's. Two ways to take more of it, measured on the held-out set:

``multiscale``: run the shipped model on the image and on 2x and 4x area-downsampled
copies (where coarse noise looks fine, which the model removes well) and swap the coarse
band of the full-resolution output for the coarse outputs' (Laplacian-pyramid fusion,
the correction optionally Gaussian-blurred by ``sigma`` pixels):

    python benchmarks/denoiser/coarse_noise_probes.py multiscale

``warm``: the warm start (ND + synthetic FBP noise -> ND) with extra squared-error terms on
blurred (``--blur gauss``, sigmas 1, 2, 4 px) or area-pooled (``--blur pool``, 2, 4, 8)
output and target, one weight each, so the coarse noise weighs in the loss as much as the
fine noise; ``--init`` fine-tunes a generator checkpoint instead of starting afresh:

    python benchmarks/denoiser/coarse_noise_probes.py warm OUT.pt --weights 4 16 64 \\
        --ramp-low 0.3 [--blur pool] [--iters 3000] [--init denoiser/runs/warm/generator.pt]
    python benchmarks/denoiser/nps_bands.py --checkpoint OUT.pt
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from nps_bands import band_means  # noqa: E402

from denoiser import Denoiser  # noqa: E402
from denoiser import checkpoint as ckpt  # noqa: E402
from denoiser import metrics as M  # noqa: E402
from denoiser.config import TrainConfig  # noqa: E402
from denoiser.ctsim import make_dataset  # noqa: E402
from denoiser.cyclegan import _gaussian_blur  # noqa: E402
from denoiser.data import nd_patches  # noqa: E402
from denoiser.evaluation import simulated as ev  # noqa: E402
from denoiser.networks import build_generator  # noqa: E402
from denoiser.seeds import EVALUATION_SEEDS  # noqa: E402
from denoiser.warmstart import _save, add_synthetic_noise  # noqa: E402

CONFIG = ROOT / "denoiser/configs/default.toml"


def _resize(a: np.ndarray, k: int | None = None, shape=None) -> np.ndarray:
    t = torch.from_numpy(np.ascontiguousarray(a))[:, None]
    if k:
        return F.avg_pool2d(t, k)[:, 0].numpy()
    return F.interpolate(t, size=shape, mode="bilinear", align_corners=False)[:, 0].numpy()


def _fuse(fine: np.ndarray, coarse: np.ndarray, sigma: float) -> np.ndarray:
    """``fine`` with its 2x-coarse band replaced by ``coarse``'s."""
    correction = _resize(coarse - _resize(fine, 2), shape=fine.shape[1:])
    if sigma:
        blurred = _gaussian_blur(torch.from_numpy(correction)[:, None], sigma)
        correction = blurred[:, 0].numpy()
    return fine + correction


def multiscale(args: argparse.Namespace) -> None:
    ds = make_dataset(20, doses=(0.25,), seed=EVALUATION_SEEDS.start, cache_dir=args.cache)
    sims = list(ds)
    ld = np.stack([s.ld[0.25] for s in sims]).astype(np.float32)
    d = Denoiser.load(args.checkpoint, device="cpu")
    y0 = d.denoise(ld)
    x1 = _resize(ld, 2)
    y1, y2 = d.denoise(x1), d.denoise(_resize(x1, 2))
    images = {"LD": ld, "model": y0}
    for sigma in (0.0, 1.5, 3.0):
        images[f"+2x, sigma {sigma}"] = _fuse(y0, y1, sigma)
        images[f"+2x+4x, sigma {sigma}"] = _fuse(y0, _fuse(y1, y2, 0.0), sigma)
    lows = band_means(ld, sims, ds.pixel_spacing_mm)
    print("| image | PSNR dB | liver ROI SD HU | CNR | contrast HU | NPS peak c/mm | bands / LD |")
    print("|---|---|---|---|---|---|---|")
    for name, im in images.items():
        rows = [ev.measure_slice(im[i], sims[i]) for i in range(len(sims))]
        m = {k: np.nanmean([r[k] for r in rows]) for k in ("psnr", "roi_sd", "cnr", "contrast")}
        peak = _nps_peak(im, sims, ds.pixel_spacing_mm)
        shares = [
            b / lo for b, lo in zip(band_means(im, sims, ds.pixel_spacing_mm), lows, strict=True)
        ]
        print(
            f"| {name} | {m['psnr']:.2f} | {m['roi_sd']:.1f} | {m['cnr']:.2f} | "
            f"{m['contrast']:.1f} | {peak:.3f} | {' / '.join(f'{s:.2f}' for s in shares)} |"
        )


def _nps_peak(images: np.ndarray, sims, spacing: float) -> float:
    """The benchmark's NPS peak (liver ROIs of image - truth, pooled over the slices)."""
    masks = np.stack([s.phantom.liver for s in sims])
    truth = np.stack([s.truth for s in sims])
    roi = max(16, int(round(ev.NPS_ROI_MM / spacing)))
    nps = M.noise_power_spectrum(images, spacing, mask=masks, reference=truth, roi_size=roi)
    return nps.peak_frequency


def _band_pass(images: np.ndarray, spacing: float, lo: float, hi: float) -> np.ndarray:
    """The part of each slice between ``lo`` and ``hi`` cycles/mm (a sharp radial mask)."""
    f = np.fft.fftfreq(images.shape[-1], spacing)
    radius = np.hypot(*np.meshgrid(np.fft.fftfreq(images.shape[-2], spacing), f, indexing="ij"))
    mask = (radius >= lo) & (radius <= hi)
    return np.fft.ifft2(np.fft.fft2(images) * mask).real.astype(np.float32)


def blend(args: argparse.Namespace) -> None:
    ds = make_dataset(20, doses=(0.25,), seed=EVALUATION_SEEDS.start, cache_dir=args.cache)
    sims = list(ds)
    ld = np.stack([s.ld[0.25] for s in sims]).astype(np.float32)
    lows = band_means(ld, sims, ds.pixel_spacing_mm)
    print("| model | band c/mm | share | PSNR dB | ROI SD HU | CNR | NPS peak c/mm | bands / LD |")
    print("|---|---|---|---|---|---|---|---|")
    for path in args.checkpoint:
        # The network alone: the shares below are the blend (a model's own is left out).
        out = Denoiser.load(path, device="cpu", texture_blend=False).denoise(ld)
        for lo, hi in ((0.152, 0.30), (0.152, 0.20)):
            removed = _band_pass(ld - out, ds.pixel_spacing_mm, lo, hi)
            for share in args.share:
                im = out + share * removed
                rows = [ev.measure_slice(im[i], sims[i]) for i in range(len(sims))]
                m = {k: np.nanmean([r[k] for r in rows]) for k in ("psnr", "roi_sd", "cnr")}
                peak = _nps_peak(im, sims, ds.pixel_spacing_mm)
                bands = band_means(im, sims, ds.pixel_spacing_mm)
                shares = " / ".join(f"{b / lo_:.2f}" for b, lo_ in zip(bands, lows, strict=True))
                print(
                    f"| {Path(path).name} | {lo:.2f}-{hi:.2f} | {share:.2f} | {m['psnr']:.2f} | "
                    f"{m['roi_sd']:.1f} | {m['cnr']:.2f} | {peak:.3f} | {shares} |",
                    flush=True,
                )


def _coarse_loss(out, target, blur: str, weights: list[float]) -> torch.Tensor:
    loss = F.mse_loss(out, target)
    for k, sigma, w in zip((2, 4, 8), (1.0, 2.0, 4.0), weights, strict=True):
        if not w:
            continue
        if blur == "gauss":
            a, b = _gaussian_blur(out, sigma), _gaussian_blur(target, sigma)
        else:
            a, b = F.avg_pool2d(out, k), F.avg_pool2d(target, k)
        loss = loss + w * F.mse_loss(a, b)
    return loss


def warm(args: argparse.Namespace) -> None:
    cfg = TrainConfig.load(CONFIG)
    cfg.warm_start_path, cfg.warm_iters = str(args.out), args.iters
    cfg.warm_ramp_exponent = [args.ramp_low, 1.0]
    data, sampler, gen = nd_patches(cfg, None, stream=11)
    net = build_generator(cfg.generator)
    if args.init:
        net.load_state_dict(
            ckpt.generator_weights(args.init, ckpt.load_checkpoint_file(args.init))[1]
        )
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr, betas=(0.9, 0.999))
    hu_per_unit = (cfg.hu_max - cfg.hu_min) / 2.0
    t0, pixel_losses = time.perf_counter(), []
    for it in range(1, args.iters + 1):
        clean = sampler.sample(cfg.batch_size)
        out = net(add_synthetic_noise(clean, cfg, gen))
        loss = _coarse_loss(out, clean, args.blur, args.weights)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        pixel_losses.append(F.mse_loss(out, clean).item())
        if it % 500 == 0:
            rms = math.sqrt(np.mean(pixel_losses[-200:])) * hu_per_unit
            print(f"{it} pixel RMSE {rms:.2f} HU, {time.perf_counter() - t0:.0f} s", flush=True)
    rmse = math.sqrt(np.mean(pixel_losses[-50:])) * hu_per_unit
    print("written", _save(cfg, net, data, rmse, torch.device("cpu")))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = ap.add_subparsers(dest="probe", required=True)
    p = sub.add_parser("multiscale")
    p.add_argument("--checkpoint", default=None, help="default: the shipped model")
    p.add_argument("--cache", type=Path, default=ROOT / "denoiser/runs/eval-cache")
    p = sub.add_parser("blend")
    p.add_argument("--checkpoint", action="append", required=True, help="repeatable")
    p.add_argument("--share", type=float, nargs="+", default=[0.3, 0.5, 0.7])
    p.add_argument("--cache", type=Path, default=ROOT / "denoiser/runs/eval-cache")
    p = sub.add_parser("warm")
    p.add_argument("out", type=Path)
    p.add_argument("--weights", type=float, nargs=3, default=[4.0, 16.0, 64.0])
    p.add_argument("--blur", choices=("gauss", "pool"), default="gauss")
    p.add_argument("--ramp-low", type=float, default=1.0, help="ramp exponent drawn in [x, 1]")
    p.add_argument("--iters", type=int, default=3000)
    p.add_argument("--init", type=Path, default=None, help="fine-tune this generator")
    args = ap.parse_args()
    torch.set_num_threads(1)
    {"multiscale": multiscale, "blend": blend, "warm": warm}[args.probe](args)


if __name__ == "__main__":
    main()
