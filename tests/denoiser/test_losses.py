"""Losses: values on known inputs and gradients reaching every parameter through every loss."""

from __future__ import annotations

from dataclasses import replace

import pytest
import torch

from denoiser import losses
from denoiser.config import TrainConfig
from denoiser.cyclegan import CycleGAN
from denoiser.data import hu_to_unit
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


def soft_tissue(seed: int) -> torch.Tensor:
    """Patches of 40 +- 60 HU in the networks' unit space (inside the discriminator window)."""
    g = torch.Generator().manual_seed(seed)
    return hu_to_unit(40.0 + 60.0 * torch.randn(2, 1, 32, 32, generator=g), -1024.0, 3072.0)


@pytest.mark.parametrize("term", ["adv", "cycle", "identity", "perceptual"])
def test_every_generator_parameter_gets_gradient_from_each_loss(term: str) -> None:
    gan = tiny_gan()
    ld, nd = soft_tissue(1), soft_tissue(2)
    terms = gan.generator_losses(ld, nd)
    terms[term].backward()
    for g in (gan.G_ld2nd, gan.G_nd2ld):
        dead = [n for n, p in g.named_parameters() if p.grad is None or not p.grad.abs().sum()]
        assert not dead, f"{term}: no gradient in {dead}"


def test_every_discriminator_parameter_gets_gradient() -> None:
    gan = tiny_gan()
    ld, nd = soft_tissue(1), soft_tissue(2)
    gan.generator_losses(ld, nd)
    gan.discriminator_losses(ld, nd)["D_total"].backward()
    for d in (gan.D_nd, gan.D_ld):
        dead = [n for n, p in d.named_parameters() if p.grad is None or not p.grad.abs().sum()]
        assert not dead, dead


def test_discriminator_input_window_and_highpass() -> None:
    gan = tiny_gan()
    x = soft_tissue(4)
    seen = gan.d_in(x)
    assert seen.shape == (2, 2, 32, 32)  # window + high-pass channels
    assert seen[:, 0].min() >= -1 and seen[:, 0].max() <= 1
    assert gan.D_nd.net[0].in_channels == 2


def test_discriminator_input_highpass_only_drops_the_image() -> None:
    both = tiny_gan()
    x = soft_tissue(4)
    x[..., :16] = hu_to_unit(torch.tensor(60.0), -1024.0, 3072.0)  # a flat half: no texture
    both_seen = both.d_in(x)
    cfg = replace(both.cfg, disc_input="highpass", discriminator=DiscriminatorSpec(width=4))
    alone = CycleGAN(cfg, None)
    seen = alone.d_in(x)
    assert seen.shape == (2, 1, 32, 32) and alone.D_nd.net[0].in_channels == 1
    assert torch.equal(seen[:, 0], both_seen[:, 1])
    assert seen[..., 2:12].abs().max() < 1e-5  # flat tissue shows nothing, whatever its HU


def test_perceptual_weight_is_calibrated_to_its_share() -> None:
    gan = tiny_gan()
    gan.cfg.perceptual_share = 0.2
    lam = gan.calibrate_perceptual(soft_tissue(3))
    assert lam > 0 and lam == gan.lambda_perceptual


@pytest.mark.parametrize(
    ("term", "option"),
    [
        ("_ld_cycle", "cycle_lowpass_sigma"),
        ("_nd_cycle", "nd_cycle_lowpass_sigma"),
        ("_nd_identity", "identity_lowpass_sigma"),
        ("_cross_perceptual", "perceptual_lowpass_sigma"),
    ],
)
def test_lowpass_terms_ignore_noise_but_not_structure(term: str, option: str) -> None:
    """With a lowpass sigma a cycle, the ND identity or a cross-domain perceptual term
    forgives a lost noise realisation, not a lost structure: pixel noise barely counts, a
    10-pixel blob about as much as before."""
    gan = tiny_gan()
    loss = getattr(gan, term)
    yy, xx = torch.meshgrid(torch.arange(32.0), torch.arange(32.0), indexing="ij")
    blob = 0.05 * (((yy - 16) ** 2 + (xx - 16) ** 2) < 25).float().view(1, 1, 32, 32)
    noise = 0.05 * torch.randn(1, 1, 32, 32, generator=torch.Generator().manual_seed(3))
    zeros = torch.zeros_like(noise)
    plain_noise, plain_blob = loss(noise, zeros).item(), loss(blob, zeros).item()
    setattr(gan.cfg, option, 2.0)
    assert loss(noise, zeros).item() < 0.3 * plain_noise
    assert loss(blob, zeros).item() > 0.4 * plain_blob


def test_r1_penalty_is_the_squared_gradient_at_real_patches() -> None:
    gan = tiny_gan()
    ld, nd = soft_tissue(1), soft_tissue(2)
    gan.generator_losses(ld, nd)
    plain = gan.discriminator_losses(ld, nd)
    assert "R1_nd" not in plain
    gan.cfg.r1_gamma = 4.0
    gan.generator_losses(ld, nd)
    d = gan.discriminator_losses(ld, nd)
    seen = gan.d_in(nd).requires_grad_(True)
    (grad,) = torch.autograd.grad(gan.D_nd(seen).sum(), seen)
    assert d["R1_nd"].item() == pytest.approx(grad.pow(2).sum().item() / len(nd), rel=1e-5)
    r1 = d["R1_nd"] + d["R1_ld"]
    assert d["D_total"].item() == pytest.approx((d["D_nd"] + d["D_ld"] + 2.0 * r1).item())
    # The penalty itself trains D: a second-order gradient reaches every weight (not the
    # biases, on which the input gradient does not depend).
    gan.D_nd.zero_grad()
    d["R1_nd"].backward()
    weights = [(n, p) for n, p in gan.D_nd.named_parameters() if n.endswith("weight")]
    dead = [n for n, p in weights if p.grad is None or not p.grad.abs().sum()]
    assert weights and not dead, dead


def test_r1_penalty_flattens_the_discriminator_at_real_patches() -> None:
    """Trained to tell two noise levels apart, D grows steep at the real patches; with the
    penalty its gradient there stays several times smaller."""

    def steepness(gamma: float) -> float:
        gan = tiny_gan()
        gan.cfg.r1_gamma = gamma
        g = torch.Generator().manual_seed(5)
        real = hu_to_unit(40.0 + 10.0 * torch.randn(4, 1, 32, 32, generator=g), -1024.0, 3072.0)
        fake = hu_to_unit(40.0 + 30.0 * torch.randn(4, 1, 32, 32, generator=g), -1024.0, 3072.0)
        for _ in range(40):
            gan._fakes = (fake, fake)
            gan.opt_D.zero_grad()
            gan.discriminator_losses(fake, real)["D_total"].backward()
            gan.opt_D.step()
        seen = gan.d_in(real).requires_grad_(True)
        (grad,) = torch.autograd.grad(gan.D_nd(seen).sum(), seen)
        return grad.pow(2).sum().item()

    assert steepness(10.0) < 0.2 * steepness(0.0)


def test_a_negative_r1_gamma_is_refused() -> None:
    with pytest.raises(ValueError, match="r1_gamma must be at least 0"):
        replace(tiny_gan().cfg, r1_gamma=-1.0)


def test_texture_term_asks_for_the_nd_noise_spectrum() -> None:
    """Zero for the same noise texture; large for a denoised (smoothed) batch, whatever the
    pixels; its gradient reaches the denoiser only."""
    gan = tiny_gan()
    gan.cfg.lambda_texture, gan.cfg.texture_sigma = 1.0, 3.0
    g = torch.Generator().manual_seed(7)
    nd = hu_to_unit(40.0 + 12.0 * torch.randn(4, 1, 32, 32, generator=g), -1024.0, 3072.0)
    other_nd = hu_to_unit(40.0 + 12.0 * torch.randn(4, 1, 32, 32, generator=g), -1024.0, 3072.0)
    smooth = hu_to_unit(torch.full((4, 1, 32, 32), 40.0), -1024.0, 3072.0) + 0.3 * (
        other_nd - other_nd.mean()
    )
    same = gan._texture(other_nd, nd).item()
    # Same texture: only the sampling noise of a 4-patch spectrum; 0.3x the noise: log(0.09).
    assert same < 1.0 and gan._texture(smooth, nd).item() > 2.0
    terms = gan.generator_losses(nd, nd)
    assert "texture" in terms and gan.loss_weights()["texture"] == 1.0
    gan.zero_grad()
    terms["texture"].backward()
    assert gan.G_ld2nd.head.weight.grad.abs().sum() > 0
    assert all(p.grad is None for p in gan.G_nd2ld.parameters())
