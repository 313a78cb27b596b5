"""Losses: values on known inputs and gradients reaching every parameter through every loss."""

from __future__ import annotations

import pytest
import torch

from denoiser import losses
from denoiser.config import TrainConfig
from denoiser.cyclegan import CycleGAN
from denoiser.losses import FeatureExtractor
from denoiser.networks import CTAutoencoder, DiscriminatorSpec, EncoderSpec
from tests.denoiser.tiny import TINY_G


def test_lsgan_targets() -> None:
    ones, zeros = torch.ones(2, 1, 4, 4), torch.zeros(2, 1, 4, 4)
    assert losses.lsgan_generator_loss(ones).item() == 0.0
    assert losses.lsgan_discriminator_loss(ones, zeros).item() == 0.0
    assert losses.lsgan_discriminator_loss(zeros, ones).item() == pytest.approx(1.0)


def test_pixel_losses_are_l1() -> None:
    a, b = torch.zeros(1, 1, 4, 4), torch.full((1, 1, 4, 4), 0.5)
    assert losses.cycle_loss(a, b).item() == pytest.approx(0.5)
    assert losses.identity_loss(b, b).item() == 0.0


def extractor() -> FeatureExtractor:
    torch.manual_seed(0)
    return FeatureExtractor(CTAutoencoder(EncoderSpec(widths=[4, 8, 8])), [1, 2])


def test_perceptual_loss_is_zero_for_equal_images_and_frozen() -> None:
    ext = extractor()
    x = torch.randn(2, 1, 32, 32)
    assert losses.perceptual_loss(ext, x, x).item() == 0.0
    assert not any(p.requires_grad for p in ext.parameters())
    ext.train()
    assert not ext.net.training


def tiny_gan() -> CycleGAN:
    cfg = TrainConfig(
        generator=TINY_G,
        discriminator=DiscriminatorSpec(width=4),
        perceptual_share=0.0,
        lambda_perceptual=1.0,
    )
    torch.manual_seed(0)
    gan = CycleGAN(cfg, extractor())
    # Untrained generators are the identity (zero head); nudge them so every term is alive.
    for g in (gan.G_ld2nd, gan.G_nd2ld):
        torch.nn.init.normal_(g.head.weight, std=0.01)
    return gan


@pytest.mark.parametrize("term", ["adv", "cycle", "identity", "perceptual"])
def test_every_generator_parameter_gets_gradient_from_each_loss(term: str) -> None:
    gan = tiny_gan()
    ld, nd = torch.randn(2, 1, 32, 32) * 0.1, torch.randn(2, 1, 32, 32) * 0.1
    terms = gan.generator_losses(ld, nd)
    terms[term].backward()
    for g in (gan.G_ld2nd, gan.G_nd2ld):
        dead = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum()]
        assert not dead, f"{term}: no gradient in {dead}"


def test_every_discriminator_parameter_gets_gradient() -> None:
    gan = tiny_gan()
    ld, nd = torch.randn(2, 1, 32, 32) * 0.1, torch.randn(2, 1, 32, 32) * 0.1
    gan.generator_losses(ld, nd)
    gan.discriminator_losses(ld, nd)["D_total"].backward()
    for d in (gan.D_nd, gan.D_ld):
        dead = [n for n, p in d.named_parameters() if p.grad is None or not p.grad.abs().sum()]
        assert not dead, dead


def test_perceptual_weight_is_calibrated_to_its_share() -> None:
    gan = tiny_gan()
    gan.cfg.perceptual_share = 0.2
    lam = gan.calibrate_perceptual(torch.randn(2, 1, 32, 32) * 0.1)
    assert lam > 0 and lam == gan.lambda_perceptual
