"""Ablation: full model vs no attention vs no perceptual loss vs the plain CycleGAN generator.

    python benchmarks/denoiser/ablation.py                    # all four arms, resumable
    python benchmarks/denoiser/ablation.py --arms full no_attention --eval-slices 20
    python benchmarks/denoiser/ablation.py --eval-only        # re-measure finished arms

Every arm is trained by the same recipe (``denoiser/configs/ablation/*.toml``:
same data, seed, schedule, discriminator and loss weights; only the named
part differs) and measured on the same held-out quarter-dose phantoms (the
evaluation seed range, anatomy no arm was trained on). Training resumes from
each arm's ``last.pt``, so the script can be stopped and restarted; on a
2-core CPU one arm takes about an hour at one thread, on a GPU minutes.

Writes ``benchmarks/denoiser/results/ablation.md`` and ``ablation.csv``.
"""

from __future__ import annotations

import argparse
import csv
import json
from pathlib import Path

import numpy as np

from denoiser import metrics, seeds
from denoiser.config import CONFIG_DIR, TrainConfig
from denoiser.inference import Denoiser

ARMS = ("full", "no_attention", "no_perceptual", "plain_cyclegan")
RESULTS = Path(__file__).parent / "results"


def held_out_set(n: int, size: int, dose: float, cache: Path) -> list[dict[str, np.ndarray]]:
    """Quarter-dose pairs of evaluation-range phantoms (cached, same for every arm)."""
    from denoiser import ctsim
    from denoiser.phantoms import abdominal_phantom

    out = []
    for seed in seeds.seeds_for("evaluation", n):
        path = cache / f"ablation_eval_s{seed}_n{size}_d{dose:.4f}.npz"
        if not path.exists():
            ph = abdominal_phantom(size, seed=seed)
            s = ctsim.simulate_doses(ph.hu, [dose], rng=seed, pixel_spacing_mm=ph.pixel_spacing_mm)
            lesions = np.stack(ph.lesion_masks) if ph.lesions else np.zeros((0, size, size), bool)
            backgrounds = (
                np.stack(ph.background_rois) if ph.lesions else np.zeros((0, size, size), bool)
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            np.savez_compressed(
                path,
                ld=s.ld[dose],
                nd=s.nd,
                truth=s.truth,
                liver_roi=ph.liver_roi,
                lesions=lesions,
                backgrounds=backgrounds,
            )
        with np.load(path) as z:
            out.append(dict(z))
    return out


def measure(model: Denoiser, data: list[dict[str, np.ndarray]], spacing: float) -> dict[str, float]:
    ld = np.stack([d["ld"] for d in data])
    den = model.denoise(ld)
    rows = []
    for img, d in zip(den, data, strict=True):
        row = {
            "psnr_nd": metrics.psnr(img, d["nd"]),
            "ssim_nd": metrics.ssim(img, d["nd"]),
            "psnr_truth": metrics.psnr(img, d["truth"]),
            "ssim_truth": metrics.ssim(img, d["truth"]),
            "liver_sd": metrics.noise_sd(img, d["liver_roi"], d["truth"]),
        }
        cnrs = [
            metrics.cnr(img, les, bg)
            for les, bg in zip(d["lesions"], d["backgrounds"], strict=True)
        ]
        if cnrs:
            row["cnr"] = float(np.mean(cnrs))
        rows.append(row)
    keys = sorted({k for r in rows for k in r})
    return {k: float(np.mean([r[k] for r in rows if k in r])) for k in keys}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--arms", nargs="*", default=list(ARMS), choices=ARMS)
    ap.add_argument("--eval-slices", type=int, default=20)
    ap.add_argument("--eval-size", type=int, default=512)
    ap.add_argument("--dose", type=float, default=0.25)
    ap.add_argument("--eval-only", action="store_true", help="skip training; measure best.pt")
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override every arm's config (e.g. epochs=2, device='cuda')",
    )
    args = ap.parse_args()

    from denoiser.cli import _config

    table = []
    for arm in args.arms:
        ns = argparse.Namespace(config=CONFIG_DIR / "ablation" / f"{arm}.toml", set=args.set)
        cfg: TrainConfig = _config(ns)
        if not args.eval_only:
            from denoiser.pretrain import pretrain_encoder
            from denoiser.train import train

            if cfg.perceptual_net == "ct_encoder" and not Path(cfg.encoder_path).exists():
                pretrain_encoder(cfg)
            train(cfg, progress=_epoch_printer(arm))
        best = Path(cfg.out_dir) / "best.pt"
        if not best.exists():
            print(f"{arm}: no best.pt yet, skipped")
            continue
        data = held_out_set(args.eval_slices, args.eval_size, args.dose, Path(cfg.cache_dir))
        model = Denoiser.load(best)
        result = {
            "arm": arm,
            "iterations": model.model_card.get("iterations"),
            **measure(model, data, 358.4 / args.eval_size),
        }
        print(json.dumps(result))
        table.append(result)
    if table:
        write_tables(table, args)


def _epoch_printer(arm: str):
    def show(event: dict) -> None:
        if event["event"] == "epoch":
            print(arm, json.dumps(event), flush=True)

    return show


def write_tables(table: list[dict], args: argparse.Namespace) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    keys = list(dict.fromkeys(k for row in table for k in row))
    with (RESULTS / "ablation.csv").open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=keys)
        writer.writeheader()
        writer.writerows(table)
    lines = [
        f"# Ablation on {args.eval_slices} held-out {args.eval_size}x{args.eval_size} phantoms, "
        f"dose {args.dose}",
        "",
        "PSNR/SSIM in [-160, 240] HU (data range 400) against the normal-dose (nd) and the "
        "noise-free (truth) reconstruction; liver SD in HU (difference to truth); lesion CNR.",
        "",
        "| " + " | ".join(keys) + " |",
        "|" + "---|" * len(keys),
    ]
    for row in table:
        cells = [
            f"{row[k]:.3f}" if isinstance(row.get(k), float) else str(row.get(k, "")) for k in keys
        ]
        lines.append("| " + " | ".join(cells) + " |")
    (RESULTS / "ablation.md").write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
