"""Checkpoint file format: save, verify, load.

A checkpoint is a ``torch.save`` dict, read back with ``weights_only=True``
(no pickled code runs on load)::

    {
      "format": "ldct-denoiser",      # magic
      "format_version": 1,
      "kind": "generator" | "ct_encoder" | "training_state",
      "arch": {...},                  # GeneratorSpec / EncoderSpec fields
      "state_dict": {...},            # kind generator / ct_encoder
      "sha256": "...",                # digest of state_dict tensors (bit-rot check)
      "config": {...},                # TrainConfig.to_dict() that produced it
      "metrics": {...},               # validation numbers at save time
      "model_card": {...},            # name, version, data, recipe, intended use
      "created": "2026-...Z",
    }

``training_state`` files (``last.pt``/``best.pt`` during training) carry
every network and optimiser plus RNG states under ``"state"``; the LD->ND
generator is ``state["G_ld2nd"]`` (its weight average ``state["G_ld2nd_ema"]`` when training
keeps one) so such a file also loads for inference.
"""

from __future__ import annotations

import hashlib
import io
import os
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import torch

FORMAT = "ldct-denoiser"
FORMAT_VERSION = 1
KINDS = ("generator", "ct_encoder", "training_state")


class CheckpointError(RuntimeError):
    """A checkpoint is missing, corrupt or does not match the network it claims."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"checkpoint {self.path}: {reason}")


def state_digest(state_dict: dict[str, torch.Tensor]) -> str:
    digest = hashlib.sha256()
    for key in sorted(state_dict):
        # One dimension, stride 1: a channels_last weight with a size-1 dimension (a 1x1
        # convolution) counts as contiguous with another stride there, which view() refuses.
        tensor = state_dict[key].detach().cpu().reshape(-1).clone()
        digest.update(key.encode())
        digest.update(str(tensor.dtype).encode())
        digest.update(tensor.view(torch.uint8).numpy().tobytes() if tensor.numel() else b"")
    return digest.hexdigest()


def make_payload(
    kind: str,
    arch: dict[str, Any],
    state_dict: dict[str, torch.Tensor] | None = None,
    *,
    config: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    model_card: dict[str, Any] | None = None,
    state: dict[str, Any] | None = None,
    half: bool = False,
) -> dict[str, Any]:
    """Build a checkpoint dict; ``half`` stores float tensors as fp16 (half the size)."""
    if kind not in KINDS:
        raise ValueError(f"unknown checkpoint kind {kind!r}")
    payload: dict[str, Any] = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "kind": kind,
        "arch": dict(arch),
        "config": config or {},
        "metrics": metrics or {},
        "model_card": model_card or {},
        "created": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }
    if state_dict is not None:
        sd = {k: v.detach().cpu().clone() for k, v in state_dict.items()}
        if half:
            sd = {k: v.half() if v.is_floating_point() else v for k, v in sd.items()}
        payload["state_dict"] = sd
        payload["sha256"] = state_digest(sd)
    if state is not None:
        payload["state"] = state
    return payload


def write_checkpoint(
    path: str | Path, kind: str, arch: dict[str, Any], state_dict=None, **fields: Any
) -> Path:
    """:func:`make_payload` (same arguments) written with :func:`save_checkpoint`."""
    return save_checkpoint(make_payload(kind, arch, state_dict, **fields), path)


def save_checkpoint(payload: dict[str, Any], path: str | Path) -> Path:
    """Write atomically: a crash mid-write never leaves a half file under the real name."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # One temporary name per process: two writers of one file (a worker that lost its job and
    # the one that took it over) each replace it with a whole file.
    tmp = path.with_suffix(f"{path.suffix}.{os.getpid()}.tmp")
    torch.save(payload, tmp)
    tmp.replace(path)
    return path


def load_checkpoint_file(path: str | Path, expected_kind: str | None = None) -> dict[str, Any]:
    """Read and verify the envelope of a checkpoint; raises CheckpointError with the reason."""
    path = Path(path)
    if not path.exists():
        raise CheckpointError(path, "file not found")
    if not path.is_file():
        raise CheckpointError(path, "not a regular file")
    try:
        raw = path.read_bytes()
        payload = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    except Exception as exc:  # zip, pickle and torch errors have many types; all mean unreadable
        detail = (str(exc).strip().splitlines() or [""])[0][:160]
        reason = f"corrupt or not a torch checkpoint ({type(exc).__name__}: {detail})"
        raise CheckpointError(path, reason) from exc
    _check_envelope(path, payload, expected_kind)
    return payload


def _check_envelope(path: Path, payload: Any, expected_kind: str | None) -> None:
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(path, "not an LDCT denoiser checkpoint (format marker missing)")
    version = payload.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise CheckpointError(
            path, f"format version {version!r} is newer than supported ({FORMAT_VERSION})"
        )
    kind = payload.get("kind")
    if kind not in KINDS:
        raise CheckpointError(path, f"unknown checkpoint kind {kind!r}")
    # A training state holds a generator, so it is accepted where a generator is expected.
    compatible = expected_kind == "generator" and kind == "training_state"
    if expected_kind and kind != expected_kind and not compatible:
        raise CheckpointError(path, f"expected a {expected_kind} checkpoint, found {kind}")
    sd = payload.get("state_dict")
    if sd is not None and payload.get("sha256") != state_digest(sd):
        raise CheckpointError(path, "weights do not match their checksum (file damaged)")


def generator_weights(path: Path, payload: dict[str, Any]) -> tuple[dict, dict]:
    """(arch, state_dict) of the LD->ND generator from a generator or training_state file."""
    if payload["kind"] == "generator":
        return payload["arch"], payload["state_dict"]
    state = payload.get("state") or {}
    if "G_ld2nd" not in state:
        raise CheckpointError(path, "training state has no LD->ND generator ('G_ld2nd')")
    # With ema_decay the averaged weights are the model that is validated and exported.
    return payload["arch"], state.get("G_ld2nd_ema", state["G_ld2nd"])


def load_into(
    path: Path,
    module: torch.nn.Module,
    state_dict: dict[str, torch.Tensor],
    new: tuple[str, ...] = (),
) -> None:
    """Strict load that names missing, unexpected and mis-shaped keys in the error.
    Weights under the module prefixes in ``new`` may be missing: they keep their
    initial values (a part added to a trained network, such as a condition's FiLM)."""
    own = module.state_dict()
    missing = sorted(k for k in set(own) - set(state_dict) if not k.startswith(new))
    unexpected = sorted(set(state_dict) - set(own))
    shapes = [
        f"{k} {tuple(state_dict[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state_dict and state_dict[k].shape != own[k].shape
    ]
    problems = []
    if missing:
        problems.append(f"missing keys {_short(missing)}")
    if unexpected:
        problems.append(f"unexpected keys {_short(unexpected)}")
    if shapes:
        problems.append(f"shape mismatch {_short(shapes)}")
    if problems:
        raise CheckpointError(path, "weights do not fit the architecture: " + "; ".join(problems))
    module.load_state_dict({k: v.to(own[k].dtype) for k, v in state_dict.items()}, strict=not new)


def _short(items: list[str], n: int = 4) -> str:
    more = f" (+{len(items) - n} more)" if len(items) > n else ""
    return ", ".join(items[:n]) + more
