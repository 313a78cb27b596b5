"""Generators, discriminator and the perceptual CT encoder.

All networks take and return tensors shaped (batch, 1, rows, cols) in the
normalised intensity space of :mod:`denoiser.data` ([-1, 1]).

The attention generator is a U-Net whose heavy layers run at reduced
resolution: a pixel-unshuffle stem folds ``stem x stem`` pixel blocks into
channels (as FFDNet does), so every convolution after it touches
``1/stem**2`` of the pixels. CPU inference is dominated by memory traffic of
full-resolution activations, so this is where the speed comes from; the
pixel-shuffle head restores full resolution losslessly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

NORMS = ("none", "group", "instance", "batch")
FUSIONS = ("gate", "gate+cbam", "cbam", "concat")


@dataclass
class GeneratorSpec:
    """Everything needed to rebuild a generator; stored in every checkpoint."""

    kind: str = "attention_unet"  # "attention_unet" | "plain_unet" | "resnet"
    base_width: int = 32
    depth: int = 4  # number of U-Net scales (including the top one)
    max_width: int = 128
    stem: int = 2  # pixel-unshuffle factor (1 = full-resolution convs)
    fusion: str = "gate"  # how skip connections are fused (see FUSIONS)
    res_blocks: int = 2  # residual blocks in the bottleneck (resnet: total blocks)
    norm: str = "none"
    global_residual: bool = True
    # Length of a per-slice condition vector (denoiser.noise_level.condition) that scales
    # and shifts every stage's features (FiLM); 0: none. Zero-initialised, so a network
    # that gains it starts out exactly as it was.
    cond_dim: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class DiscriminatorSpec:
    width: int = 64
    layers: int = 3
    norm: str = "instance"
    in_channels: int = 1  # 2 when it also sees a high-pass channel (see cyclegan.DiscInput)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class EncoderSpec:
    """Small autoencoder whose middle encoder stages feed the perceptual loss."""

    widths: list[int] = field(default_factory=lambda: [16, 32, 64])
    norm: str = "none"

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def make_norm(kind: str, channels: int) -> nn.Module:
    if kind == "none":
        return nn.Identity()
    if kind == "group":
        # >= 2 channels per group keeps it defined even on a 1x1 bottleneck.
        return nn.GroupNorm(max(1, min(8, channels // 2)), channels)
    if kind == "instance":
        return nn.InstanceNorm2d(channels, affine=True)
    if kind == "batch":
        return nn.BatchNorm2d(channels)
    raise ValueError(f"unknown norm {kind!r}; choose one of {NORMS}")


def conv_norm_act(cin: int, cout: int, norm: str, stride: int = 1) -> nn.Sequential:
    # With a norm layer the conv bias is redundant.
    return nn.Sequential(
        nn.Conv2d(cin, cout, 3, stride, 1, bias=norm == "none"),
        make_norm(norm, cout),
        nn.LeakyReLU(0.1, inplace=True),
    )


class ConvBlock(nn.Sequential):
    def __init__(self, cin: int, cout: int, norm: str) -> None:
        super().__init__(conv_norm_act(cin, cout, norm), conv_norm_act(cout, cout, norm))


class ResBlock(nn.Module):
    """Residual feature transformation used in the bottleneck."""

    def __init__(self, channels: int, norm: str) -> None:
        super().__init__()
        self.body = nn.Sequential(
            conv_norm_act(channels, channels, norm),
            nn.Conv2d(channels, channels, 3, 1, 1, bias=norm == "none"),
            make_norm(norm, channels),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.body(x)


class AttentionGate(nn.Module):
    """Oktay et al. 2018 additive attention gate on a skip connection.

    The decoder feature ``g`` is already at the skip's resolution here (it was
    upsampled first), so theta is a plain 1x1 conv instead of a strided one.
    """

    def __init__(self, skip_ch: int, gate_ch: int) -> None:
        super().__init__()
        inter = max(skip_ch // 2, 1)
        self.theta = nn.Conv2d(skip_ch, inter, 1, bias=False)
        self.phi = nn.Conv2d(gate_ch, inter, 1, bias=True)
        self.psi = nn.Conv2d(inter, 1, 1, bias=True)
        self.out = nn.Conv2d(skip_ch, skip_ch, 1, bias=True)

    def forward(self, x: torch.Tensor, g: torch.Tensor) -> torch.Tensor:
        alpha = torch.sigmoid(self.psi(F.relu(self.theta(x) + self.phi(g))))
        return self.out(x * alpha)


class CBAM(nn.Module):
    """Channel then spatial attention (Woo et al. 2018) on fused features."""

    def __init__(self, channels: int, reduction: int = 4) -> None:
        super().__init__()
        hidden = max(channels // reduction, 4)
        self.mlp = nn.Sequential(
            nn.Conv2d(channels, hidden, 1),
            nn.ReLU(inplace=True),
            nn.Conv2d(hidden, channels, 1),
        )
        self.spatial = nn.Conv2d(2, 1, 7, padding=3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = self.mlp(F.adaptive_avg_pool2d(x, 1))
        mx = self.mlp(F.adaptive_max_pool2d(x, 1))
        x = x * torch.sigmoid(avg + mx)
        pooled = torch.cat([x.mean(1, keepdim=True), x.amax(1, keepdim=True)], 1)
        return x * torch.sigmoid(self.spatial(pooled))


class DecoderStage(nn.Module):
    def __init__(self, deep_ch: int, skip_ch: int, out_ch: int, fusion: str, norm: str) -> None:
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"unknown fusion {fusion!r}; choose one of {FUSIONS}")
        self.up = nn.ConvTranspose2d(deep_ch, skip_ch, 2, stride=2)
        self.gate = AttentionGate(skip_ch, skip_ch) if "gate" in fusion else None
        self.block = ConvBlock(2 * skip_ch, out_ch, norm)
        self.cbam = CBAM(out_ch) if "cbam" in fusion else None

    def forward(self, deep: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = self.up(deep)
        if self.gate is not None:
            skip = self.gate(skip, up)
        out = self.block(torch.cat([up, skip], 1))
        return self.cbam(out) if self.cbam is not None else out


class FiLM(nn.Module):
    """Per-channel scale and shift for each of several stages from a condition vector
    (Perez et al. 2018). The last layer starts at zero: scale 1, shift 0, the network
    unchanged until training moves it."""

    def __init__(self, cond_dim: int, channels: list[int], hidden: int = 64) -> None:
        super().__init__()
        self.cond_dim = cond_dim
        self.channels = channels
        self.mlp = nn.Sequential(
            nn.Linear(cond_dim, hidden),
            nn.LeakyReLU(0.1, inplace=True),
            nn.Linear(hidden, 2 * sum(channels)),
        )
        nn.init.zeros_(self.mlp[-1].weight)
        nn.init.zeros_(self.mlp[-1].bias)

    def forward(
        self, cond: torch.Tensor | None, like: torch.Tensor
    ) -> list[tuple[torch.Tensor, torch.Tensor]]:
        if cond is None:
            cond = like.new_zeros(like.shape[0], self.cond_dim)
        if cond.shape != (like.shape[0], self.cond_dim):
            raise ValueError(
                f"condition shaped {tuple(cond.shape)}, expected ({like.shape[0]}, {self.cond_dim})"
            )
        params = self.mlp(cond.to(like.dtype))[:, :, None, None]
        out, start = [], 0
        for c in self.channels:
            out.append((1.0 + params[:, start : start + c], params[:, start + c : start + 2 * c]))
            start += 2 * c
        return out


def pad_to_multiple(
    x: torch.Tensor, multiple: int, min_size: int = 0
) -> tuple[torch.Tensor, tuple[int, int]]:
    """Pad the last two dims up to a multiple (and at least ``min_size``); returns the size."""
    h, w = x.shape[-2:]
    ph = max((-h) % multiple, min_size - h)
    pw = max((-w) % multiple, min_size - w)
    if ph or pw:
        # Reflection needs pad < size; replicate covers tiny inputs.
        mode = "reflect" if ph < h and pw < w else "replicate"
        x = F.pad(x, (0, pw, 0, ph), mode=mode)
    return x, (h, w)


class UNetGenerator(nn.Module):
    """U-Net generator; the noise it predicts is subtracted from the input.

    ``fusion="concat"`` gives the plain U-Net of the ablation; the default
    fuses skips through attention gates and keeps residual blocks in the
    bottleneck.
    """

    def __init__(self, spec: GeneratorSpec) -> None:
        super().__init__()
        self.spec = spec
        widths = [min(spec.base_width * 2**i, spec.max_width) for i in range(spec.depth)]
        self.multiple = spec.stem * 2 ** (spec.depth - 1)
        s2 = spec.stem**2
        self.stem = nn.PixelUnshuffle(spec.stem) if spec.stem > 1 else nn.Identity()
        self.enc = nn.ModuleList([ConvBlock(s2, widths[0], spec.norm)])
        self.down = nn.ModuleList()
        for i in range(1, spec.depth):
            self.down.append(conv_norm_act(widths[i - 1], widths[i], spec.norm, stride=2))
            self.enc.append(ConvBlock(widths[i], widths[i], spec.norm))
        self.bottleneck = nn.Sequential(
            *[ResBlock(widths[-1], spec.norm) for _ in range(spec.res_blocks)]
        )
        self.dec = nn.ModuleList(
            DecoderStage(widths[i + 1], widths[i], widths[i], spec.fusion, spec.norm)
            for i in reversed(range(spec.depth - 1))
        )
        self.head = nn.Conv2d(widths[0], s2, 3, 1, 1)
        self.unstem = nn.PixelShuffle(spec.stem) if spec.stem > 1 else nn.Identity()
        # Start as (nearly) the identity map: the noise estimate begins at zero.
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)
        # Modulated: each encoder stage, the bottleneck, each decoder stage.
        self.film = (
            FiLM(spec.cond_dim, widths + [widths[-1]] + widths[-2::-1]) if spec.cond_dim else None
        )

    def forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """``cond``: (batch, cond_dim) for a conditioned network; None: all zeros, which
        :func:`denoiser.noise_level.condition` gives where the level is unknown."""
        # At least a 2x2 bottleneck: instance/group norms are undefined on one pixel.
        xp, (h, w) = pad_to_multiple(x, self.multiple, 2 * self.multiple)
        mods = iter(self.film(cond, x) if self.film is not None else ())

        def mod(y: torch.Tensor) -> torch.Tensor:
            scale_shift = next(mods, None)
            return y if scale_shift is None else y * scale_shift[0] + scale_shift[1]

        feats = []
        y = mod(self.enc[0](self.stem(xp)))
        feats.append(y)
        for down, enc in zip(self.down, self.enc[1:], strict=True):
            y = mod(enc(down(y)))
            feats.append(y)
        y = mod(self.bottleneck(y))
        for dec, skip in zip(self.dec, reversed(feats[:-1]), strict=True):
            y = mod(dec(y, skip))
        out = self.unstem(self.head(y))
        if self.spec.global_residual:
            out = xp - out
        return out[..., :h, :w]


class ResnetGenerator(nn.Module):
    """The CycleGAN paper's ResNet generator (c7s1-d-down-res-up-c7s1), for the ablation.

    Runs behind the same pixel-unshuffle stem so its speed is comparable.
    """

    def __init__(self, spec: GeneratorSpec) -> None:
        super().__init__()
        self.spec = spec
        w = spec.base_width
        s2 = spec.stem**2
        self.multiple = spec.stem * 4
        self.stem = nn.PixelUnshuffle(spec.stem) if spec.stem > 1 else nn.Identity()
        self.body = nn.Sequential(
            nn.Conv2d(s2, w, 7, 1, 3),
            make_norm(spec.norm, w),
            nn.ReLU(inplace=True),
            conv_norm_act(w, 2 * w, spec.norm, stride=2),
            conv_norm_act(2 * w, 4 * w, spec.norm, stride=2),
            *[ResBlock(4 * w, spec.norm) for _ in range(max(spec.res_blocks, 1))],
            nn.ConvTranspose2d(4 * w, 2 * w, 2, stride=2),
            nn.ReLU(inplace=True),
            nn.ConvTranspose2d(2 * w, w, 2, stride=2),
            nn.ReLU(inplace=True),
        )
        self.head = nn.Conv2d(w, s2, 7, 1, 3)
        self.unstem = nn.PixelShuffle(spec.stem) if spec.stem > 1 else nn.Identity()
        nn.init.zeros_(self.head.weight)
        nn.init.zeros_(self.head.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, self.multiple, 2 * self.multiple)
        out = self.unstem(self.head(self.body(self.stem(xp))))
        if self.spec.global_residual:
            out = xp - out
        return out[..., :h, :w]


def build_generator(spec: GeneratorSpec | dict[str, Any]) -> nn.Module:
    if isinstance(spec, dict):
        spec = GeneratorSpec(**spec)
    if spec.kind == "attention_unet":
        return UNetGenerator(spec)
    if spec.kind == "plain_unet":
        return UNetGenerator(GeneratorSpec(**{**spec.to_dict(), "fusion": "concat"}))
    if spec.kind == "resnet":
        if spec.cond_dim:
            raise ValueError("cond_dim: only the U-Net generators take a condition")
        return ResnetGenerator(spec)
    raise ValueError(f"unknown generator kind {spec.kind!r}")


class PatchDiscriminator(nn.Module):
    """70x70 PatchGAN (3 strided layers) with least-squares (raw score) output."""

    def __init__(self, spec: DiscriminatorSpec) -> None:
        super().__init__()
        w = spec.width
        layers: list[nn.Module] = [
            nn.Conv2d(spec.in_channels, w, 4, 2, 1),
            nn.LeakyReLU(0.2, inplace=True),
        ]
        ch = w
        for i in range(1, spec.layers + 1):
            nxt = w * min(2**i, 8)
            stride = 2 if i < spec.layers else 1
            layers += [
                nn.Conv2d(ch, nxt, 4, stride, 1, bias=spec.norm == "none"),
                make_norm(spec.norm, nxt),
                nn.LeakyReLU(0.2, inplace=True),
            ]
            ch = nxt
        layers.append(nn.Conv2d(ch, 1, 4, 1, 1))
        self.net = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class CTAutoencoder(nn.Module):
    """Denoising autoencoder trained on normal-dose CT; its encoder is the perceptual net.

    No skip connections: the reconstruction must pass through the encoder
    stages, so their features have to describe the anatomy.
    """

    def __init__(self, spec: EncoderSpec) -> None:
        super().__init__()
        self.spec = spec
        ws = spec.widths
        stages: list[nn.Module] = [ConvBlock(1, ws[0], spec.norm)]
        for i in range(1, len(ws)):
            stages.append(
                nn.Sequential(
                    conv_norm_act(ws[i - 1], ws[i], spec.norm, stride=2),
                    conv_norm_act(ws[i], ws[i], spec.norm),
                )
            )
        self.stages = nn.ModuleList(stages)
        dec: list[nn.Module] = []
        for i in reversed(range(1, len(ws))):
            dec += [nn.ConvTranspose2d(ws[i], ws[i - 1], 2, stride=2), nn.LeakyReLU(0.1, True)]
            dec.append(conv_norm_act(ws[i - 1], ws[i - 1], spec.norm))
        dec.append(nn.Conv2d(ws[0], 1, 3, 1, 1))
        self.decoder = nn.Sequential(*dec)
        self.multiple = 2 ** (len(ws) - 1)

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        feats = []
        for stage in self.stages:
            x = stage(x)
            feats.append(x)
        return feats

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        xp, (h, w) = pad_to_multiple(x, self.multiple)
        return self.decoder(self.features(xp)[-1])[..., :h, :w]


def count_parameters(module: nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())
