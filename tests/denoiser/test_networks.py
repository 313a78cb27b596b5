"""Generators and discriminators: any slice size in and out, residual start, ablation variants."""

from __future__ import annotations

import pytest
import torch

from denoiser.networks import (
    CTAutoencoder,
    DiscriminatorSpec,
    EncoderSpec,
    GeneratorSpec,
    PatchDiscriminator,
    build_generator,
)
from tests.denoiser.tiny import TINY_G

VARIANTS = {
    "attention": {},
    "gate+cbam": {"fusion": "gate+cbam", "norm": "group"},
    "plain_unet": {"kind": "plain_unet", "norm": "instance"},
    "resnet": {"kind": "resnet"},
    "full_res_stem": {"stem": 1},
}


def spec(**kw) -> GeneratorSpec:
    return GeneratorSpec(**{**TINY_G.to_dict(), **kw})


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("shape", [(1, 1, 37, 53), (2, 1, 64, 64), (1, 1, 5, 9)])
def test_generator_keeps_any_slice_size(variant: str, shape: tuple[int, ...]) -> None:
    torch.manual_seed(0)
    # eval(): a 5x9 slice leaves a 1x1 bottleneck, where training-mode norms are undefined.
    net = build_generator(spec(**VARIANTS[variant])).eval()
    out = net(torch.randn(shape))
    assert out.shape == shape
    assert torch.isfinite(out).all()


def test_generator_starts_as_identity() -> None:
    # The noise head starts at zero, so an untrained network passes its input through.
    x = torch.randn(1, 1, 40, 40)
    assert torch.allclose(build_generator(spec())(x), x)


def test_generator_has_attention_gates_and_bottleneck_residuals() -> None:
    net = build_generator(spec(fusion="gate", res_blocks=2))
    names = {type(m).__name__ for m in net.modules()}
    assert {"AttentionGate", "ResBlock"} <= names
    assert "AttentionGate" not in {
        type(m).__name__ for m in build_generator(spec(kind="plain_unet")).modules()
    }


def test_unknown_options_are_rejected() -> None:
    with pytest.raises(ValueError, match="unknown generator kind"):
        build_generator(spec(kind="transformer"))
    with pytest.raises(ValueError, match="unknown norm"):
        build_generator(spec(norm="layer"))
    with pytest.raises(ValueError, match="unknown fusion"):
        build_generator(spec(fusion="sum"))


def test_patch_discriminator_scores_patches() -> None:
    d = PatchDiscriminator(DiscriminatorSpec(width=4, layers=3))
    score = d(torch.randn(2, 1, 64, 64))
    assert score.shape[:2] == (2, 1) and score.shape[-1] > 1


def test_autoencoder_reconstructs_same_size() -> None:
    ae = CTAutoencoder(EncoderSpec(widths=[4, 8, 8]))
    assert ae(torch.randn(1, 1, 30, 22)).shape == (1, 1, 30, 22)
    assert len(ae.features(torch.randn(1, 1, 32, 32))) == 3
