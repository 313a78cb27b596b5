"""The CycleGAN model: two generators, two discriminators, one training step.

Domain names: LD (low dose, noisy) and ND (normal dose). ``G_ld2nd`` is the
denoiser that gets shipped; ``G_nd2ld`` (re-noising) exists for the cycle.
"""

from __future__ import annotations

import random
from contextlib import AbstractContextManager, nullcontext
from dataclasses import replace

import torch
import torch.nn.functional as F
from torch import nn

from denoiser import losses
from denoiser.config import TrainConfig
from denoiser.data import unit_to_hu
from denoiser.losses import FeatureExtractor
from denoiser.networks import PatchDiscriminator, build_generator
from denoiser.selfsupervised import NoiseModel, r2r_loss
from denoiser.warmstart import add_synthetic_noise


class ImagePool:
    """History of generated images (Shrivastava et al.): D sees old fakes too, which damps
    oscillation. Uses its own seeded RNG so training stays reproducible."""

    def __init__(self, size: int, seed: int) -> None:
        self.size = size
        self.images: list[torch.Tensor] = []
        self.rng = random.Random(seed)

    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for img in images.detach():
            img = img.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(img.clone())
                out.append(img)
            elif self.rng.random() < 0.5:
                idx = self.rng.randrange(self.size)
                out.append(self.images[idx].clone())
                self.images[idx] = img.clone()
            else:
                out.append(img)
        return torch.cat(out, 0)


class DiscInput(nn.Module):
    """What the discriminators look at: the soft-tissue window, plus its high-pass band.

    Normal- and low-dose CT differ mainly in noise of 10-30 HU, which is 0.005-0.015 in
    the generator's [-1, 1] space (1 unit = 2048 HU) and buried under anatomy contrast. A
    PatchGAN fed that raw range stays at chance for hundreds of iterations (measured: LSGAN
    D loss 0.25 after 650 steps). Windowing to [-160, 240] HU (the reading window) makes
    noise ~0.1, and a high-pass channel (image minus its Gaussian blur, sigma 1.5 px) puts
    noise texture in front of the discriminator, as DU-GAN's gradient-domain discriminator
    does (Huang et al. 2021); with it D learns within a few hundred steps.
    """

    HIGHPASS_SIGMA = 1.5
    HIGHPASS_GAIN = 4.0  # brings the high-pass band to the image channel's scale
    # "highpass" alone hides most anatomy: the LD and ND training sets are different
    # phantoms, and a discriminator that can tell them apart by anatomy need not look at
    # noise at all.
    MODES = ("raw", "window", "window+highpass", "highpass")

    def __init__(self, mode: str, window_hu: list[float], hu_range: tuple[float, float]) -> None:
        super().__init__()
        if mode not in self.MODES:
            raise ValueError(f"unknown disc_input {mode!r}")
        self.mode = mode
        self.window = (float(window_hu[0]), float(window_hu[1]))
        self.hu_range = hu_range

    @property
    def channels(self) -> int:
        return 2 if self.mode == "window+highpass" else 1

    def windowed(self, x: torch.Tensor) -> torch.Tensor:
        """The reading window mapped to [-1, 1]."""
        lo, hi = self.window
        hu = unit_to_hu(x, *self.hu_range).clamp(lo, hi)
        return (hu - lo) * (2.0 / (hi - lo)) - 1.0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.mode == "raw":
            return x
        w = self.windowed(x)
        if self.mode == "window":
            return w
        high = (w - _gaussian_blur(w, self.HIGHPASS_SIGMA)) * self.HIGHPASS_GAIN
        return high if self.mode == "highpass" else torch.cat([w, high], 1)


def _lowpass_l1(output: torch.Tensor, target: torch.Tensor, sigma: float) -> torch.Tensor:
    """L1 of the two after a Gaussian blur of `sigma` pixels (plain L1 when sigma is 0)."""
    if sigma <= 0:
        return losses.cycle_loss(output, target)
    return losses.cycle_loss(_gaussian_blur(output, sigma), _gaussian_blur(target, sigma))


class CycleGAN(nn.Module):
    def __init__(self, cfg: TrainConfig, perceptual: FeatureExtractor | None) -> None:
        super().__init__()
        self.cfg = cfg
        self.d_in = DiscInput(cfg.disc_input, cfg.disc_window_hu, (cfg.hu_min, cfg.hu_max))
        if cfg.discriminator.in_channels != self.d_in.channels:
            # The discriminator's first layer follows from what it is shown.
            cfg.discriminator = replace(cfg.discriminator, in_channels=self.d_in.channels)
        self.G_ld2nd = build_generator(cfg.generator)
        self.G_nd2ld = build_generator(cfg.generator)
        self.D_nd = PatchDiscriminator(cfg.discriminator)
        self.D_ld = PatchDiscriminator(cfg.discriminator)
        self.perceptual = perceptual
        self.lambda_perceptual = cfg.lambda_perceptual if perceptual is not None else 0.0
        betas = (cfg.beta1, cfg.beta2)
        gen_params = [*self.G_ld2nd.parameters(), *self.G_nd2ld.parameters()]
        disc_params = [*self.D_nd.parameters(), *self.D_ld.parameters()]
        self.opt_G = torch.optim.Adam(gen_params, lr=cfg.lr, betas=betas)
        self.opt_D = torch.optim.Adam(disc_params, lr=cfg.lr, betas=betas)
        self.pool_nd = ImagePool(cfg.pool_size, cfg.seed + 1)
        self.pool_ld = ImagePool(cfg.pool_size, cfg.seed + 2)
        # The LD noise's spectrum, for the self-supervised term (set by the trainer).
        self.noise_model: NoiseModel | None = None

    # ---- losses -------------------------------------------------------------------------
    def generator_losses(
        self, ld: torch.Tensor, nd: torch.Tensor, pair: tuple | None = None
    ) -> dict[str, torch.Tensor]:
        """``pair``: the warm start's (noisy, clean) batch when its target is the truth."""
        cfg = self.cfg
        fake_nd = self.G_ld2nd(ld)
        rec_ld = self.G_nd2ld(fake_nd)
        fake_ld = self.G_nd2ld(nd)
        rec_nd = self.G_ld2nd(fake_ld)
        terms = {
            "adv": losses.lsgan_generator_loss(self.D_nd(self.d_in(fake_nd)))
            + losses.lsgan_generator_loss(self.D_ld(self.d_in(fake_ld))),
            "cycle": self._ld_cycle(rec_ld, ld) + self._nd_cycle(rec_nd, nd),
        }
        if cfg.lambda_identity > 0:
            terms["identity"] = self._nd_identity(self.G_ld2nd(nd), nd) + losses.identity_loss(
                self.G_nd2ld(ld), ld
            )
        if cfg.lambda_synthetic > 0:
            # The warm start's task (denoiser.warmstart): its noise, unlike G_nd2ld's, is new.
            noisy, clean = pair if pair is not None else (add_synthetic_noise(nd, cfg), nd)
            terms["synthetic"] = losses.cycle_loss(self.G_ld2nd(noisy), clean)
        if cfg.lambda_self > 0:
            if self.noise_model is None:
                raise ValueError("lambda_self > 0 needs a noise model of the LD images")
            terms["self"] = r2r_loss(self.G_ld2nd, ld, self.noise_model, cfg.self_alpha)
        if cfg.lambda_texture > 0:
            terms["texture"] = self._texture(fake_nd, nd)
        if self.perceptual is not None and self.lambda_perceptual > 0:
            p = self.perceptual
            terms["perceptual"] = (
                self._cross_perceptual(fake_nd, ld)
                + self._cross_perceptual(fake_ld, nd)
                + losses.perceptual_loss(p, rec_ld, ld)
                + losses.perceptual_loss(p, rec_nd, nd)
            )
        weights = self.loss_weights()
        terms["total"] = sum(weights[k] * v for k, v in terms.items())
        self._fakes = (fake_nd.detach(), fake_ld.detach())
        return terms

    def _ld_cycle(self, rec_ld: torch.Tensor, ld: torch.Tensor) -> torch.Tensor:
        return _lowpass_l1(rec_ld, ld, self.cfg.cycle_lowpass_sigma)

    def _nd_cycle(self, rec_nd: torch.Tensor, nd: torch.Tensor) -> torch.Tensor:
        return _lowpass_l1(rec_nd, nd, self.cfg.nd_cycle_lowpass_sigma)

    def _nd_identity(self, same_nd: torch.Tensor, nd: torch.Tensor) -> torch.Tensor:
        return _lowpass_l1(same_nd, nd, self.cfg.identity_lowpass_sigma)

    def _texture(self, fake_nd: torch.Tensor, nd: torch.Tensor) -> torch.Tensor:
        """L1 of the log batch-mean power spectra of the band-passed reading window."""

        def spectrum(x: torch.Tensor) -> torch.Tensor:
            w = self.d_in.windowed(x)
            band = w - _gaussian_blur(w, self.cfg.texture_sigma)
            return torch.fft.rfft2(band).abs().pow(2).mean(0) + 1e-8

        return (spectrum(fake_nd).log() - spectrum(nd).detach().log()).abs().mean()

    def _cross_perceptual(self, translated: torch.Tensor, source: torch.Tensor) -> torch.Tensor:
        sigma = self.cfg.perceptual_lowpass_sigma
        if sigma > 0:
            translated, source = _gaussian_blur(translated, sigma), _gaussian_blur(source, sigma)
        return losses.perceptual_loss(self.perceptual, translated, source)

    def loss_weights(self) -> dict[str, float]:
        return {
            "adv": self.cfg.lambda_adv,
            "cycle": self.cfg.lambda_cycle,
            "identity": self.cfg.lambda_identity,
            "perceptual": self.lambda_perceptual,
            "synthetic": self.cfg.lambda_synthetic,
            "texture": self.cfg.lambda_texture,
            "self": self.cfg.lambda_self,
        }

    def discriminator_losses(self, ld: torch.Tensor, nd: torch.Tensor) -> dict[str, torch.Tensor]:
        fake_nd, fake_ld = self._fakes
        fake_nd = self.pool_nd.query(fake_nd)
        fake_ld = self.pool_ld.query(fake_ld)
        d, D_nd, D_ld = self.d_in, self.D_nd, self.D_ld
        real_nd, r1_nd = self._judge_real(D_nd, d(nd))
        real_ld, r1_ld = self._judge_real(D_ld, d(ld))
        d_nd = losses.lsgan_discriminator_loss(real_nd, D_nd(d(fake_nd)))
        d_ld = losses.lsgan_discriminator_loss(real_ld, D_ld(d(fake_ld)))
        out = {"D_nd": d_nd, "D_ld": d_ld, "D_total": d_nd + d_ld}
        if r1_nd is not None:
            out["R1_nd"], out["R1_ld"] = r1_nd, r1_ld
            out["D_total"] = out["D_total"] + 0.5 * self.cfg.r1_gamma * (r1_nd + r1_ld)
        return out

    def _judge_real(
        self, D: nn.Module, seen: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor | None]:
        """D's verdict on real patches and, with ``r1_gamma``, its R1 term: the squared
        gradient norm of D at those patches, summed over the patch map, mean per sample."""
        if self.cfg.r1_gamma <= 0:
            return D(seen), None
        seen = seen.detach().requires_grad_(True)
        verdict = D(seen)
        (grad,) = torch.autograd.grad(verdict.sum(), seen, create_graph=True)
        return verdict, grad.pow(2).flatten(1).sum(1).mean()

    # ---- one optimisation step ----------------------------------------------------------
    def train_step(
        self,
        ld: torch.Tensor,
        nd: torch.Tensor,
        autocast: AbstractContextManager | None = None,
        pair: tuple | None = None,
    ) -> dict[str, float]:
        ctx = autocast or nullcontext()
        self._set_requires_grad([self.D_nd, self.D_ld], False)
        self.opt_G.zero_grad(set_to_none=True)
        with ctx:
            g = self.generator_losses(ld, nd, pair)
        g["total"].backward()
        self._clip([*self.G_ld2nd.parameters(), *self.G_nd2ld.parameters()])
        self.opt_G.step()
        self._set_requires_grad([self.D_nd, self.D_ld], True)
        self.opt_D.zero_grad(set_to_none=True)
        with ctx:
            d = self.discriminator_losses(ld, nd)
        d["D_total"].backward()
        self._clip([*self.D_nd.parameters(), *self.D_ld.parameters()])
        self.opt_D.step()
        return {k: float(v.detach()) for k, v in {**g, **d}.items()}

    def set_lr(self, lr: float) -> None:
        for opt in (self.opt_G, self.opt_D):
            for group in opt.param_groups:
                group["lr"] = lr

    def _clip(self, params: list[nn.Parameter]) -> None:
        if self.cfg.grad_clip > 0:
            nn.utils.clip_grad_norm_(params, self.cfg.grad_clip)

    @staticmethod
    def _set_requires_grad(nets: list[nn.Module], flag: bool) -> None:
        for net in nets:
            for p in net.parameters():
                p.requires_grad_(flag)

    # ---- perceptual weight calibration --------------------------------------------------
    @torch.no_grad()
    def calibrate_perceptual(self, ld: torch.Tensor) -> float:
        """Pick lambda_perceptual so the perceptual terms take ``perceptual_share`` of the
        pixel + perceptual terms for a denoising-sized change.

        At initialisation every generator is the identity (a warm-started denoiser is not,
        but the balance is set for the identity all the same), so the loss terms are all
        zero and cannot be balanced directly; instead compare how the pixel L1 and the
        perceptual loss score the same typical change: an LD patch against its 1-pixel Gaussian
        smoothing. The cycle and identity terms are two L1s each; perceptual has four terms.
        """
        share = self.cfg.perceptual_share
        if self.perceptual is None or share <= 0:
            return self.lambda_perceptual
        smooth = _gaussian_blur(ld, sigma=1.0)
        l1 = F.l1_loss(smooth, ld).item()
        perc = losses.perceptual_loss(self.perceptual, smooth, ld).item()
        pixel = 2 * (self.cfg.lambda_cycle + self.cfg.lambda_identity) * l1
        self.lambda_perceptual = share / (1 - share) * pixel / max(4 * perc, 1e-12)
        return self.lambda_perceptual


def _gaussian_blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    radius = max(1, round(3 * sigma))
    t = torch.arange(-radius, radius + 1, dtype=x.dtype, device=x.device)
    k = torch.exp(-(t**2) / (2 * sigma**2))
    k = k / k.sum()
    x = F.pad(x, (radius, radius, radius, radius), mode="reflect")
    x = F.conv2d(x, k.view(1, 1, 1, -1))
    return F.conv2d(x, k.view(1, 1, -1, 1))
