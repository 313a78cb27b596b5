"""Recipe experiments on the shipped model's config: one change each, the rest the same.

    python benchmarks/denoiser/recipes.py --train lowpass_cycle     # resumable
    python benchmarks/denoiser/recipes.py --table                   # per-epoch validation

Every recipe is ``denoiser/configs/default.toml`` with the overrides below: same data, seed
and validation set. The first group was run on the 0.1.0 recipe (``V010``: plain LD cycle,
20 epochs, the learning rate decaying over the second half; about 45 minutes at one CPU
thread) and its table is ``results/recipes/validation.md``. The second group runs the
0.2.0 default for 4000 iterations validated every 100 (``FINE``; about 20 minutes) and its
table is ``results/recipes/validation_fine.md``, held-out results in ``heldout.md``. The
tables are how the recipe of the next shipped model is chosen; the held-out benchmark
(``python -m denoiser evaluate``) then measures the exported checkpoint.
"""

from __future__ import annotations

import sys
from pathlib import Path

# Runnable as a plain script from anywhere; ablation.py lies beside this file.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import argparse
import subprocess

from ablation import write_validation_table

ROOT = Path(__file__).resolve().parents[2]

# The 0.1.0 recipe that the first group changed one thing of (default.toml is 0.2.0 now).
V010 = ["cycle_lowpass_sigma=0.0", "decay_start_epoch=-1"]


def constant_rate(epochs: int) -> list[str]:
    """Overrides for a run of `epochs` epochs at a constant learning rate."""
    return [f"epochs={epochs}", f"decay_start_epoch={epochs}"]


FINE = [*constant_rate(40), "iters_per_epoch=100"]
RECIPES: dict[str, list[str]] = {
    "default": V010,
    "adv_2.5": [*V010, "lambda_adv=2.5"],
    "disc_no_norm": [*V010, 'discriminator.norm="none"'],
    "identity_1": [*V010, "lambda_identity=1.0"],
    "lowpass_cycle": [*V010, "cycle_lowpass_sigma=2.0"],
    # 160 slices per domain instead of 40: can the discriminators still tell the domains
    # apart by anatomy (the phantoms differ) rather than by noise?
    "more_data": [*V010, "sim_slices_per_domain=160"],
    # The 0.2.0 default (blurred LD cycle) for 4000 iterations, validated every 100
    # (training oscillates: the good moments are short).
    "default_fine": FINE,
    # The denoiser's identity on ND blurred too: only the discriminator then sets how much
    # noise the output keeps (ND-like), the identity still forbids changing structure.
    "lowpass_identity": [*FINE, "identity_lowpass_sigma=2.0"],
    # Validate and export an exponential moving average of the denoiser's weights
    # (horizon ~1000 iterations) instead of the oscillating iterate itself.
    "ema": [*FINE, "ema_decay=0.999"],
    "lowpass_identity_ema": [*FINE, "identity_lowpass_sigma=2.0", "ema_decay=0.999"],
    # With the average: twice the batch (steadier adversarial gradients; half the
    # iterations, so as many patches), and a weaker identity term (the runner-up of the
    # 0.1.0 sweep).
    "batch8_ema": [*FINE, *constant_rate(20), "batch_size=8", "ema_decay=0.999"],
    "identity_1_ema": [*FINE, "lambda_identity=1.0", "ema_decay=0.999"],
    # Every cross-domain term blurred: LD cycle, ND identity and the perceptual terms that
    # compare a translated patch with its own input (full band, they pull the denoiser back
    # towards the LD noise: the drift to more noise after the peak in every run above).
    "lowpass_all_ema": [
        *FINE,
        *constant_rate(60),
        "identity_lowpass_sigma=2.0",
        "perceptual_lowpass_sigma=2.0",
        "ema_decay=0.999",
    ],
}
# With nothing but the discriminator left to set the output's noise level: twice its weight.
RECIPES["lowpass_all_adv2_ema"] = [*RECIPES["lowpass_all_ema"], "lambda_adv=2.0"]
# Both still drift back to more noise after their peak. The LD and ND sets are different
# phantoms: a discriminator that tells them apart by anatomy need not judge noise. Shown
# only the high-pass band, it sees little anatomy.
# (6000 iterations: they leave the identity late, at about 3100.)
RECIPES["highpass_disc_ema"] = [
    *FINE,
    *constant_rate(60),
    'disc_input="highpass"',
    "ema_decay=0.999",
]
RECIPES["highpass_disc_lowpass_all_ema"] = [*RECIPES["lowpass_all_ema"], 'disc_input="highpass"']
# Their D_nd keeps winning after the peak (LSGAN loss 0.12 against 0.25 at chance) while
# the output gets noisier, and D_ld stays at chance: the ND cycle (full band) lets the
# denoiser learn to subtract exactly the noise G_nd2ld adds rather than real LD noise.
RECIPES["nd_lowpass_cycle_ema"] = [*FINE, "nd_cycle_lowpass_sigma=2.0", "ema_decay=0.999"]
RECIPES["lowpass_all_cycles_ema"] = [
    *RECIPES["lowpass_all_ema"],
    *constant_rate(40),
    "nd_cycle_lowpass_sigma=2.0",
]
# Both of these drift too (the second from 34.19 dB at 2200 iterations). Left in full band:
# the perceptual terms of the cycles; and the learning rate never decays.
RECIPES["blurred_no_perceptual_ema"] = [*RECIPES["lowpass_all_cycles_ema"], 'perceptual_net="none"']
RECIPES["lowpass_all_cycles_decay_ema"] = [
    *RECIPES["lowpass_all_cycles_ema"],
    "decay_start_epoch=20",
]
# None of the pixel or perceptual terms drives the drift: D_nd keeps winning while the
# output circles away from its peak, as unregularised GAN training does when it does not
# converge. The R1 penalty (gradient of D at real patches) makes it converge locally
# (Mescheder et al., ICML 2018). Two strengths, on the `ema` recipe, 6000 iterations (gamma
# 10 left D_nd at 0.4 after 175 iterations, worse than chance: too strong).
RECIPES["r1_1_ema"] = [*FINE, *constant_rate(60), "r1_gamma=1.0", "ema_decay=0.999"]
RECIPES["r1_01_ema"] = [*FINE, *constant_rate(60), "r1_gamma=0.1", "ema_decay=0.999"]
# R1 at 0.1 and 1 kept both discriminators at chance for 1100 iterations (stopped there):
# telling noise levels apart takes a steep D, which is exactly what R1 penalises.
#
# Trained with pairs, the same generator reaches 38 dB in 2000 iterations: the network can
# denoise, the adversarial signal is weak. So the denoiser starts from a warm start learnt
# on ND + synthetic FBP noise (denoiser/warmstart.py; ND images only, no pairs).
WARM = 'warm_start_path="denoiser/runs/warm/generator.pt"'
RECIPES["warm_ema"] = [*FINE, WARM, "ema_decay=0.999"]
RECIPES["warm_lowpass_all_ema"] = [*RECIPES["lowpass_all_ema"], *constant_rate(40), WARM]
# Both fall back within 100 iterations (20 HU of liver noise, the input's) and climb to
# the old plateau (34.2 dB / 14.6 HU at 500): the CycleGAN terms pull away from the warm
# start. So its task stays in the loss (`lambda_synthetic`), at two weights.
for weight in (10, 30):
    RECIPES[f"warm_synthetic_{weight}_ema"] = [
        *RECIPES["warm_ema"],
        *constant_rate(30),
        f"lambda_synthetic={weight}.0",
    ]
# Weight 30 holds 37 dB on validation (10 HU) but its liver NPS peaks at half ND's: the LD
# noise below 0.1 cycles/mm stays. The warm start never saw such noise (pure ramp), so
# here the ramp exponent is drawn from [0.3, 1] (more low-frequency noise). (As run, both
# stages ignored the option, a bug fixed since: the recorded row is a rerun of weight 30.)
RECIPES["warm_lf_synthetic_30_ema"] = [
    *RECIPES["warm_synthetic_30_ema"],
    'warm_start_path="denoiser/runs/warm-lf/generator.pt"',
    "warm_ramp_exponent=[0.3, 1.0]",
]
# The discriminator is what asks for ND's texture: three times its weight.
RECIPES["warm_synthetic_30_adv3_ema"] = [*RECIPES["warm_synthetic_30_ema"], "lambda_adv=3.0"]
# Every warm recipe keeps the LD noise below 0.1 cycles/mm (NPS peak half of ND's): ask for
# ND's noise spectrum directly (`lambda_texture`, a batch statistic, no pairs). Held out: NPS
# peak 0.100 -> 0.110 c/mm, but 35.74 dB and 11.8 HU (results/recipes/heldout.md).
RECIPES["warm_synthetic_30_adv3_texture_ema"] = [
    *RECIPES["warm_synthetic_30_adv3_ema"],
    *constant_rate(10),
    "lambda_texture=1.0",
]
OUT = Path(__file__).parent / "results" / "recipes"


def run_dir(name: str) -> Path:
    return ROOT / "denoiser" / "runs" / "recipes" / name


def train(name: str) -> None:
    sets = ["epochs=20", f'out_dir="{run_dir(name)}"', *RECIPES[name]]
    command = [sys.executable, "-m", "denoiser", "train", "--pretrain-generator", "--config"]
    command += [str(ROOT / "denoiser" / "configs" / "default.toml")]
    for item in sets:
        command += ["--set", item]
    subprocess.run(command, cwd=ROOT, check=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--train", nargs="*", choices=RECIPES, default=[])
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args()
    for name in args.train:
        train(name)
    if args.table or not args.train:
        # The 20-epoch recipes and those validated every 100 iterations, in two tables.
        for fine, table in ((False, "validation.md"), (True, "validation_fine.md")):
            runs = {n: run_dir(n) for n, sets in RECIPES.items() if (FINE[0] in sets) == fine}
            write_validation_table(
                runs,
                OUT / table,
                "Recipes: validation metrics " + ("every 100 iterations" if fine else "per epoch"),
                "`benchmarks/denoiser/recipes.py --table`",
            )


if __name__ == "__main__":
    main()
