"""Choose the texture blend of a generalist checkpoint on its validation set.

The blend puts a share of the noise the network removed back, in a frequency band
(``texture_blend_share``, ``texture_blend_band``). For each setting this prints PSNR
against the noise-free truth ([-160, 240] HU) and the NPS peak of the output against the
normal-dose image's (``denoiser.validation``; the goal asks for 0.75 to 1.25), on the
validation slices of a config (every anatomy, kernel and pixel size of the general data).

    python benchmarks/denoiser/blend_choice.py CHECKPOINT [--config denoiser/configs/default.toml]
"""

from __future__ import annotations

import argparse

import torch

from denoiser.config import TrainConfig
from denoiser.data import load_training_data
from denoiser.inference import Denoiser
from denoiser.validation import score

SETTINGS = [
    (0.0, [0.106, 0.21]),
    (0.3, [0.106, 0.21]),
    (0.2, [0.0, 0.71]),
    (0.3, [0.0, 0.71]),
    (0.4, [0.0, 0.71]),
]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("checkpoint")
    ap.add_argument("--config", default="denoiser/configs/default.toml")
    args = ap.parse_args()
    torch.set_num_threads(1)
    val = load_training_data(TrainConfig.load(args.config)).val
    base = Denoiser.load(args.checkpoint, texture_blend=False)
    print("| share | band c/px | PSNR dB | SSIM | liver SD HU | NPS peak / ND's |")
    print("|---|---|---|---|---|---|")
    for share, band in SETTINGS:
        # A fixed band: a model whose config follows its noise peak would ignore it.
        config = {
            **base.config,
            "texture_blend_share": share,
            "texture_blend_band": band,
            "texture_blend_relative": [],
        }
        model = Denoiser(base.net, config=config, hu_window=base.hu_window)
        result = score(model.denoise(val.ld), val)
        sd, ratio = (result.get(k, float("nan")) for k in ("liver_sd", "nps_peak_ratio"))
        print(
            f"| {share} | {band} | {result['psnr_truth']:.2f} | {result['ssim_truth']:.3f} | "
            f"{sd:.1f} | {ratio:.2f} |",
            flush=True,
        )


if __name__ == "__main__":
    main()
