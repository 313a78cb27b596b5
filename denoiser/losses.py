"""CycleGAN losses, one function each, plus the perceptual feature loss.

Conventions follow junyanz/pytorch-CycleGAN-and-pix2pix: least-squares GAN
targets 1 (real) and 0 (fake); the discriminator loss is halved.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from denoiser.networks import CTAutoencoder, EncoderSpec


def lsgan_generator_loss(fake_score: torch.Tensor) -> torch.Tensor:
    """The generator wants the discriminator to call its output real (1)."""
    return F.mse_loss(fake_score, torch.ones_like(fake_score))


def lsgan_discriminator_loss(real_score: torch.Tensor, fake_score: torch.Tensor) -> torch.Tensor:
    """Real towards 1, fake towards 0; halved so D learns slower than G."""
    real = F.mse_loss(real_score, torch.ones_like(real_score))
    fake = F.mse_loss(fake_score, torch.zeros_like(fake_score))
    return 0.5 * (real + fake)


def cycle_loss(reconstructed: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    return F.l1_loss(reconstructed, original)


def identity_loss(mapped: torch.Tensor, original: torch.Tensor) -> torch.Tensor:
    """G_LD->ND applied to an ND image should leave it unchanged (and vice versa)."""
    return F.l1_loss(mapped, original)


class FeatureExtractor(nn.Module):
    """Frozen feature network for the perceptual loss; returns a list of feature maps."""

    def __init__(self, net: nn.Module, levels: Sequence[int]) -> None:
        super().__init__()
        self.net = net.eval()
        self.levels = tuple(levels)
        for p in self.net.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> FeatureExtractor:
        # Always frozen: dropout/norm statistics must not follow the generator's mode.
        super().train(False)
        return self

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = self._all_features(x)
        return [feats[i] for i in self.levels]

    def _all_features(self, x: torch.Tensor) -> list[torch.Tensor]:
        if isinstance(self.net, CTAutoencoder):
            return self.net.features(x)
        out, feats = x, []
        for layer in self.net:  # a VGG-style nn.Sequential
            out = layer(out)
            feats.append(out)
        return feats


def perceptual_loss(
    extractor: FeatureExtractor, output: torch.Tensor, target: torch.Tensor
) -> torch.Tensor:
    """Multi-level L1 between feature maps, each level normalised by its own mean scale.

    The target's features carry no gradient: only the output is steered.
    """
    out_feats = extractor(output)
    with torch.no_grad():
        tgt_feats = extractor(target)
    total = output.new_zeros(())
    for fo, ft in zip(out_feats, tgt_feats, strict=True):
        scale = ft.abs().mean().clamp_min(1e-6)
        total = total + F.l1_loss(fo, ft) / scale
    return total / len(out_feats)


def load_ct_encoder(path: str | Path, levels: Sequence[int]) -> FeatureExtractor:
    """The project's own perceptual network, written by ``pretrain-encoder``."""
    from denoiser.checkpoint import load_checkpoint_file

    ckpt = load_checkpoint_file(path, expected_kind="ct_encoder")
    net = CTAutoencoder(EncoderSpec(**ckpt["arch"]))
    net.load_state_dict(ckpt["state_dict"])
    return FeatureExtractor(net, levels)


def load_vgg_features(path: str | Path, levels: Sequence[int]) -> FeatureExtractor:
    """VGG-16 feature stack from a local state-dict file the user supplies (option only).

    torchvision is not a dependency, so the VGG-16 ``features`` layout is
    rebuilt here; keys are those of ``torchvision.models.vgg16().state_dict()``
    (``features.N.weight``). CT is grey, so the input is repeated to 3 channels.
    """
    cfg = [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M"]
    layers: list[nn.Module] = [_GreyToRGB()]
    ch = 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(ch, int(v), 3, padding=1), nn.ReLU(inplace=False)]
            ch = int(v)
    net = nn.Sequential(*layers)
    state = torch.load(path, map_location="cpu", weights_only=True)
    feats = {k.removeprefix("features."): v for k, v in state.items() if k.startswith("features.")}
    # Our index is shifted by one because of the grey-to-RGB layer in front.
    shifted = {f"{int(k.split('.')[0]) + 1}.{k.split('.', 1)[1]}": v for k, v in feats.items()}
    # Deeper VGG layers than we build are ignored; any layer we build must be filled.
    missing, _ = net.load_state_dict(shifted, strict=False)
    if missing:
        raise ValueError(f"{path}: not a VGG-16 state dict, missing {missing[:4]}")
    return FeatureExtractor(net, levels)


class _GreyToRGB(nn.Module):
    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x.repeat(1, 3, 1, 1)
