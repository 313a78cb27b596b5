"""LDCT denoiser: unsupervised attention CycleGAN, CT simulation, metrics and I/O.

Django-free. ``from denoiser import Denoiser`` imports torch only when the
name is first used, so light users (the web app's settings, ``ctsim``) stay
light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["CheckpointError", "Denoiser"]

if TYPE_CHECKING:
    from denoiser.checkpoint import CheckpointError
    from denoiser.inference import Denoiser


def __getattr__(name: str) -> Any:
    if name == "Denoiser":
        from denoiser.inference import Denoiser

        return Denoiser
    if name == "CheckpointError":
        from denoiser.checkpoint import CheckpointError

        return CheckpointError
    raise AttributeError(f"module 'denoiser' has no attribute {name!r}")
