"""Checkpoint files: round trip, and a clear CheckpointError for every way a file can be bad."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from denoiser import CheckpointError, Denoiser
from denoiser import checkpoint as ckpt
from denoiser.networks import GeneratorSpec, build_generator
from tests.denoiser.tiny import TINY_G


def trained_like_generator(spec: GeneratorSpec = TINY_G) -> torch.nn.Module:
    torch.manual_seed(3)
    net = build_generator(spec)
    torch.nn.init.normal_(net.head.weight, std=0.05)  # not the identity any more
    return net


def save_generator(path: Path, net: torch.nn.Module, spec: GeneratorSpec = TINY_G, **kw) -> Path:
    payload = ckpt.make_payload(
        "generator",
        spec.to_dict(),
        net.state_dict(),
        model_card={"name": "t", "version": "9"},
        **kw,
    )
    return ckpt.save_checkpoint(payload, path)


def test_round_trip_gives_identical_outputs(tmp_path: Path) -> None:
    net = trained_like_generator()
    path = save_generator(tmp_path / "g.pt", net)
    loaded = Denoiser.load(path, device="cpu")
    assert loaded.name == "t" and loaded.version == "9"
    vol = np.random.default_rng(0).normal(40, 30, (2, 40, 40)).astype(np.float32)
    before = Denoiser(net, device="cpu").denoise(vol)
    assert np.array_equal(before, loaded.denoise(vol))
    assert not np.array_equal(before, vol)  # the network really did something


def test_half_precision_export_is_small_and_close(tmp_path: Path) -> None:
    net = trained_like_generator()
    full = save_generator(tmp_path / "full.pt", net)
    half = save_generator(tmp_path / "half.pt", net, half=True)
    assert half.stat().st_size < full.stat().st_size
    vol = np.random.default_rng(0).normal(40, 30, (1, 32, 32)).astype(np.float32)
    a = Denoiser.load(full, device="cpu").denoise(vol)
    b = Denoiser.load(half, device="cpu").denoise(vol)
    assert np.abs(a - b).max() < 2.0  # HU


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="nope.pt: file not found"):
        Denoiser.load(tmp_path / "nope.pt")


def test_corrupt_file(tmp_path: Path) -> None:
    path = save_generator(tmp_path / "g.pt", trained_like_generator())
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="g.pt: corrupt or not a torch checkpoint"):
        Denoiser.load(path)
    path.write_bytes(b"this is not a checkpoint")
    with pytest.raises(CheckpointError, match="corrupt"):
        Denoiser.load(path)


def test_flipped_weights_fail_the_checksum(tmp_path: Path) -> None:
    path = tmp_path / "g.pt"
    payload = ckpt.make_payload(
        "generator", TINY_G.to_dict(), trained_like_generator().state_dict()
    )
    first = next(iter(payload["state_dict"]))
    payload["state_dict"][first] = payload["state_dict"][first] + 1.0
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="checksum"):
        Denoiser.load(path)


def test_foreign_torch_file(tmp_path: Path) -> None:
    path = tmp_path / "plain.pt"
    torch.save(trained_like_generator().state_dict(), path)
    with pytest.raises(CheckpointError, match="not an LDCT denoiser checkpoint"):
        Denoiser.load(path)


def test_mismatched_architecture_names_the_keys(tmp_path: Path) -> None:
    other = GeneratorSpec(**{**TINY_G.to_dict(), "base_width": 6})
    payload = ckpt.make_payload("generator", TINY_G.to_dict(), build_generator(other).state_dict())
    path = ckpt.save_checkpoint(payload, tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="g.pt: weights do not fit.*shape mismatch"):
        Denoiser.load(path)


def test_missing_keys_are_named(tmp_path: Path) -> None:
    sd = trained_like_generator().state_dict()
    sd.pop("head.bias")
    path = ckpt.save_checkpoint(
        ckpt.make_payload("generator", TINY_G.to_dict(), sd), tmp_path / "g.pt"
    )
    with pytest.raises(CheckpointError, match="missing keys head.bias"):
        Denoiser.load(path)


def test_unknown_architecture(tmp_path: Path) -> None:
    arch = {**TINY_G.to_dict(), "kind": "transformer"}
    sd = trained_like_generator().state_dict()
    path = ckpt.save_checkpoint(ckpt.make_payload("generator", arch, sd), tmp_path / "g.pt")
    with pytest.raises(CheckpointError, match="unknown generator architecture"):
        Denoiser.load(path)


def test_newer_format_and_wrong_kind(tmp_path: Path) -> None:
    payload = ckpt.make_payload("ct_encoder", {}, {"w": torch.zeros(1)})
    path = ckpt.save_checkpoint(payload, tmp_path / "enc.pt")
    with pytest.raises(CheckpointError, match="expected a generator checkpoint, found ct_encoder"):
        Denoiser.load(path)
    payload["format_version"] = ckpt.FORMAT_VERSION + 1
    torch.save(payload, path)
    with pytest.raises(CheckpointError, match="newer than supported"):
        Denoiser.load(path)
