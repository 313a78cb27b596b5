"""Ablation: full model vs no attention vs no perceptual loss vs the plain CycleGAN generator.

    python benchmarks/denoiser/ablation.py                    # all four arms, resumable
    python benchmarks/denoiser/ablation.py --arms full no_attention --n-slices 20
    python benchmarks/denoiser/ablation.py --eval-only        # re-measure finished arms
    python benchmarks/denoiser/ablation.py --train-only --arms no_attention   # one arm per process

Every arm is trained by the shipped recipe (``denoiser/configs/default.toml``,
warm start then CycleGAN: same data, seed, schedule, discriminators and loss
weights); only the named part differs (``ARMS``), so the arms never drift from
the default. The full model is the shipped model (``denoiser/weights/default.pt``)
unless its run folder is here; without ``--set`` it is never retrained. Arms with
another generator train their own warm start; ``no_perceptual`` shares the
shipped warm start (trained first if missing: do not train it from two processes
at once). Training resumes from each arm's state, so the script can be stopped
and restarted; on a 2-core CPU one arm takes about 25 minutes at one thread.

Measurement is ``denoiser.evaluate`` (the same held-out set, metrics and report
as the main benchmark; pass ``--cache`` to share its simulation cache, by default
``denoiser/runs/eval-cache``, which the README's evaluate command uses); reports go to
``benchmarks/denoiser/results/ablation/`` (``results.md``, ``results.csv``,
figures), one column per arm beside the LD input and the ND image.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a plain script from anywhere: the repository root holds the denoiser package.
sys.path.insert(0, str(Path(__file__).resolve().parents[2]))

import argparse
import json

from denoiser.config import CONFIG_DIR, TrainConfig

RUNS = "denoiser/runs/ablation"
# What each arm changes in default.toml (--set syntax).
ARMS = {
    "full": [],
    # Skips concatenated as in a plain U-Net: another generator, so its own warm start.
    "no_attention": [
        'name="ablation-no-attention"',
        f'out_dir="{RUNS}/no_attention"',
        f'warm_start_path="{RUNS}/no_attention/warm.pt"',
        'generator.fusion="concat"',
    ],
    # Adversarial + cycle + identity (+ the warm start's task) only; the same generator, so
    # the shipped warm start.
    "no_perceptual": [
        'name="ablation-no-perceptual"',
        f'out_dir="{RUNS}/no_perceptual"',
        'perceptual_net="none"',
    ],
    # The CycleGAN paper's ResNet generator (2 strided downs, 6 residual blocks, 2 ups,
    # instance norm; no U-Net skips, no attention) behind the same stem and global residual.
    "plain_cyclegan": [
        'name="ablation-plain-cyclegan"',
        f'out_dir="{RUNS}/plain_cyclegan"',
        f'warm_start_path="{RUNS}/plain_cyclegan/warm.pt"',
        'generator.kind="resnet"',
        "generator.res_blocks=6",
        'generator.norm="instance"',
    ],
}
OUT = Path(__file__).parent / "results" / "ablation"


def arm_config(arm: str, overrides: list[str]) -> TrainConfig:
    from denoiser.cli import _config

    ns = argparse.Namespace(config=CONFIG_DIR / "default.toml", set=ARMS[arm] + overrides)
    return _config(ns)


def train_arm(arm: str, cfg: TrainConfig) -> None:
    from denoiser.pretrain import pretrain_encoder
    from denoiser.train import train
    from denoiser.warmstart import pretrain_generator

    if cfg.perceptual_net == "ct_encoder" and not Path(cfg.encoder_path).exists():
        pretrain_encoder(cfg)
    if cfg.warm_start_path and not Path(cfg.warm_start_path).exists():
        pretrain_generator(cfg)  # continues its own unfinished run, if any
    train(cfg, progress=_epoch_printer(arm))


def _epoch_printer(arm: str):
    def show(event: dict) -> None:
        if event["event"] == "epoch":
            print(arm, json.dumps(event), flush=True)

    return show


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--arms", nargs="*", default=list(ARMS), choices=list(ARMS))
    ap.add_argument("--n-slices", type=int, default=20)
    ap.add_argument("--dose", type=float, default=0.25)
    ap.add_argument("--cache", type=Path, default=Path("denoiser/runs/eval-cache"))
    ap.add_argument("--out", type=Path, default=OUT)
    ap.add_argument("--eval-only", action="store_true", help="skip training; measure best.pt")
    ap.add_argument(
        "--train-only", action="store_true", help="train (or resume) the arms, measure nothing"
    )
    ap.add_argument(
        "--validation-table",
        action="store_true",
        help="only tabulate each arm's per-epoch validation metrics (works mid-training)",
    )
    ap.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override every arm's config (e.g. epochs=2, device='cuda')",
    )
    args = ap.parse_args()

    if args.validation_table:
        validation_table(args.arms, args.set, args.out / "validation.md")
        return

    from denoiser.ctsim import make_dataset
    from denoiser.evaluation.simulated import evaluate
    from denoiser.inference import DEFAULT_CHECKPOINT, Denoiser
    from denoiser.seeds import EVALUATION_SEEDS

    methods = {}
    for arm in args.arms:
        cfg = arm_config(arm, args.set)
        best = Path(cfg.out_dir) / "best.pt"
        shipped = arm == "full" and not best.exists() and not args.set
        if shipped:
            best = DEFAULT_CHECKPOINT  # the shipped model is this arm's run: not trained twice
        elif not args.eval_only:
            train_arm(arm, cfg)
        if args.train_only:
            continue
        if not best.exists():
            print(f"{arm}: no best.pt yet, skipped")
            continue
        model = Denoiser.load(best)
        methods[f"{arm} ({model.model_card.get('iterations')} it)"] = model.denoise
    if not methods:
        return
    dataset = make_dataset(
        args.n_slices,
        doses=(args.dose,),
        seed=EVALUATION_SEEDS.start,
        cache_dir=args.cache,
        progress=True,
    )
    evaluate(methods, dataset, args.out, dose=args.dose, progress=True)
    print((args.out / "results.md").read_text())


def validation_table(arms: list[str], overrides: list[str], path: Path) -> None:
    """Per-epoch validation metrics of every arm side by side (matched iterations)."""
    runs = {arm: Path(arm_config(arm, overrides).out_dir) for arm in arms}
    write_validation_table(
        runs,
        path,
        "Ablation: per-epoch validation metrics",
        "`benchmarks/denoiser/ablation.py --validation-table`",
    )


def write_validation_table(runs: dict[str, Path], path: Path, title: str, source: str) -> None:
    """One row per run and epoch, from each run folder's metrics.csv."""
    import csv

    keys = ("psnr", "ssim", "psnr_truth", "ssim_truth", "liver_sd")
    lines = [
        f"# {title}",
        "",
        "6 paired quarter-dose 512x512 phantoms (validation seeds); PSNR/SSIM in [-160, 240] HU,",
        "data range 400, vs the normal-dose image and vs the noise-free truth; liver noise SD in",
        f"HU (image - truth). Written by {source}.",
        "",
        "| run | epoch | iteration | " + " | ".join(keys) + " |",
        "|---|---|---|" + "---|" * len(keys),
    ]
    recorded = _recorded_rows(path)
    for name, run_dir in runs.items():
        csv_path = run_dir / "metrics.csv"
        if not csv_path.exists():
            # Runs are not in git: a run trained on another machine keeps its recorded rows.
            lines += recorded.get(name, [])
            continue
        with csv_path.open() as fh:
            for row in csv.DictReader(fh):
                cells = [f"{float(row[k]):.3f}" for k in keys]
                lines.append(
                    f"| {name} | {row['epoch']} | {row['iteration']} | " + " | ".join(cells) + " |"
                )
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")
    print(path.read_text())


def _recorded_rows(path: Path) -> dict[str, list[str]]:
    """The table rows already in `path`, by run name."""
    rows: dict[str, list[str]] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            cells = line.split("|")
            if len(cells) > 3 and cells[2].strip().isdigit():
                rows.setdefault(cells[1].strip(), []).append(line)
    return rows


if __name__ == "__main__":
    main()
