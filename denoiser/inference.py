"""Inference: the ``Denoiser`` that the web worker, the CLI and scripts use.

    from denoiser import Denoiser
    d = Denoiser.load()                 # shipped default (denoiser/weights/default.pt)
    d = Denoiser.load("run/best.pt")    # any generator or training-state checkpoint
    out = d.denoise(volume_hu, progress=lambda done, total: ...)

``volume_hu`` is float HU shaped (slices, rows, cols) or (rows, cols); the
result has the same shape and is float32. Pixels outside the network's HU
window (e.g. -2048 padding outside the scan circle, or metal above 3072) are
returned unchanged, and the output is clipped to the input's min/max, so a
denoised series never invents values the source could not hold. A model may ask for a
geometric self-ensemble (``self_ensemble`` in its config: the network's output averaged over
2, 4 or 8 mirrored/turned copies of each slice, each turned back) and a texture blend.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from denoiser import checkpoint as ckpt
from denoiser import noise_level
from denoiser.config import (
    TEXTURE_BAND,
    check_self_ensemble,
    check_texture_blend,
    check_texture_config,
)
from denoiser.data import hu_to_unit, unit_to_hu
from denoiser.networks import build_generator

WEIGHTS_DIR = Path(__file__).parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "default.pt"
DEFAULT_HU_WINDOW = (-1024.0, 3072.0)
# Above this many pixels per slice, slices are processed as overlapping tiles.
MAX_TILE_PIXELS = 1024 * 1024
TILE = 512
TILE_MARGIN = 32  # context each tile borrows from its neighbours (cropped afterwards)

ProgressFn = Callable[[int, int], None]


def pick_device(name: str | None = None) -> torch.device:
    """The named device (ValueError if this machine has none), or the best one here."""
    if name and name != "auto":
        device = torch.device(name)
        if device.type == "cuda" and not torch.cuda.is_available():
            raise ValueError(f"device {name}: this PyTorch build or machine has no CUDA GPU")
        if device.type == "mps" and not torch.backends.mps.is_available():
            raise ValueError(f"device {name}: Apple MPS is not available here")
        return device
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


class Denoiser:
    """A loaded LD->ND generator plus everything needed to apply it to HU volumes."""

    def __init__(
        self,
        net: nn.Module,
        *,
        name: str = "unnamed",
        version: str = "0",
        model_card: dict[str, Any] | None = None,
        config: dict[str, Any] | None = None,
        hu_window: tuple[float, float] = DEFAULT_HU_WINDOW,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
        max_tile_pixels: int = MAX_TILE_PIXELS,
        path: Path | None = None,
        channels_last: bool = True,
        amp: bool = True,
    ) -> None:
        self.device = pick_device(str(device) if device is not None else None)
        self.net = net.eval().to(self.device)
        self.channels_last = channels_last and self.device.type in ("cpu", "cuda")
        if self.channels_last:
            # NHWC lets oneDNN (CPU) and cuDNN's tensor-core kernels (CUDA, bf16) pick their
            # fastest convolutions (benchmarks/denoiser/results/speed_gpu.md).
            self.net = self.net.to(memory_format=torch.channels_last)
        self.name = name
        self.version = version
        self.model_card = model_card or {}
        self.config = config or {}
        self.hu_window = hu_window
        # 64 slices of 512x512 on CUDA: the H100's best end-to-end rate (speed_gpu.md).
        self.batch_size = batch_size or (64 if self.device.type == "cuda" else 4)
        self.max_tile_pixels = max_tile_pixels
        self.path = path
        self.amp = amp  # bf16 (fp16 where bf16 is missing) on GPUs; False: fp32 everywhere
        # Texture: a share of the removed noise in a band put back (TrainConfig.texture_blend_*);
        # a model whose config lacks the setting has none.
        self.texture_share = float(self.config.get("texture_blend_share", 0.0) or 0.0)
        self.texture_band = tuple(self.config.get("texture_blend_band") or TEXTURE_BAND)
        self.texture_relative = tuple(self.config.get("texture_blend_relative") or ())
        if self.texture_share:
            check_texture_blend(
                self.texture_share, list(self.texture_band), list(self.texture_relative)
            )
        # Forward passes per slice, each in another orientation (TrainConfig.self_ensemble).
        check_self_ensemble(self.config.get("self_ensemble", 1))
        self.ensemble = int(self.config.get("self_ensemble", 1))
        self._radii: dict[tuple[int, int], torch.Tensor] = {}  # spectrum radius per shape

    @classmethod
    def load(
        cls,
        path: str | Path | None = None,
        *,
        device: str | torch.device | None = None,
        batch_size: int | None = None,
        threads: int | None = None,
        channels_last: bool = True,
        amp: bool = True,
        texture_blend: bool = True,
        self_ensemble: int | None = None,
    ) -> Denoiser:
        """Load and verify a checkpoint (None: the shipped default); raises CheckpointError.

        ``texture_blend=False`` leaves out the model's texture blend (the network's output
        alone). ``self_ensemble`` (1, 2, 4 or 8) replaces the model's own; each step up
        doubles the network's time. ``threads`` sets torch's CPU thread count for the whole
        process (None: leave it). On a busy shared CPU, fewer threads than cores avoids
        OpenMP spin-wait stalls.
        """
        if threads:
            torch.set_num_threads(threads)
        path = Path(path) if path is not None else DEFAULT_CHECKPOINT
        payload = ckpt.load_checkpoint_file(path, expected_kind="generator")
        arch, state_dict = ckpt.generator_weights(path, payload)
        try:
            net = build_generator(dict(arch))
        except (TypeError, ValueError) as exc:
            raise ckpt.CheckpointError(path, f"unknown generator architecture ({exc})") from exc
        ckpt.load_into(path, net, state_dict)
        config = dict(payload.get("config") or {})
        if not texture_blend:
            config["texture_blend_share"] = 0.0
        if self_ensemble is not None:
            check_self_ensemble(self_ensemble)  # the caller's value: a ValueError, not the file's
            config["self_ensemble"] = self_ensemble
        card = payload.get("model_card") or {}
        try:  # the file's settings, checked here so a bad one is the file's error
            check_texture_config(config)
        except ValueError as exc:
            raise ckpt.CheckpointError(path, f"bad texture blend setting ({exc})") from exc
        try:
            check_self_ensemble(config.get("self_ensemble", 1))
        except ValueError as exc:
            raise ckpt.CheckpointError(path, f"bad self-ensemble setting ({exc})") from exc
        return cls(
            net,
            name=card.get("name") or config.get("name", path.stem),
            version=str(card.get("version") or config.get("version", "0")),
            model_card=card,
            config=config,
            hu_window=(
                float(config.get("hu_min", DEFAULT_HU_WINDOW[0])),
                float(config.get("hu_max", DEFAULT_HU_WINDOW[1])),
            ),
            device=device,
            batch_size=batch_size,
            path=path,
            channels_last=channels_last,
            amp=amp,
        )

    def __repr__(self) -> str:
        return f"Denoiser(name={self.name!r}, version={self.version!r}, device={self.device})"

    # ---- public API ----------------------------------------------------------------------
    def denoise(
        self,
        volume_hu: np.ndarray,
        progress: ProgressFn | None = None,
        batch_size: int | None = None,
    ) -> np.ndarray:
        """Denoise a (slices, rows, cols) or (rows, cols) HU array; returns float32, same shape."""
        vol = np.asarray(volume_hu)
        if vol.ndim not in (2, 3):
            raise ValueError(f"expected (rows, cols) or (slices, rows, cols), got {vol.shape}")
        if vol.size == 0:
            raise ValueError(f"empty volume {vol.shape}")
        if vol.dtype.kind not in "iuf":  # complex would lose its imaginary part silently
            raise TypeError(f"expected real numbers (Hounsfield units), got dtype {vol.dtype}")
        vol = vol.astype(np.float32, copy=False)
        # min and max propagate NaN and show infinities: two passes instead of a third.
        value_range = (float(vol.min()), float(vol.max()))
        if not all(np.isfinite(value_range)):
            raise ValueError("volume contains NaN or infinite values")
        stack = vol[None] if vol.ndim == 2 else vol
        out = np.empty_like(stack)
        bs = batch_size or self.batch_size
        if stack.shape[-2] * stack.shape[-1] > self.max_tile_pixels:
            bs = 1  # tiled slices: one at a time, so the device holds one slice, not a batch
        n = len(stack)
        for start in range(0, n, bs):
            y = self._denoise_slices(stack[start : start + bs], value_range)
            # Straight into the result: a temporary host tensor per batch would cost an
            # allocation (and its page faults) and one more copy (speed_gpu.md).
            torch.from_numpy(out[start : start + bs]).copy_(y)
            if progress:
                progress(min(start + bs, n), n)
        return out[0] if vol.ndim == 2 else out

    def check_input(self, volume_hu: np.ndarray) -> list[str]:
        """Warnings when the input's noise level or texture lies outside what this model was
        trained on (``denoiser.guard``; empty when inside, or when the checkpoint records no
        range, as models before 0.5.0 do not)."""
        from denoiser import guard

        trained = self.model_card.get("input_range")
        if not trained:
            return []
        return guard.check(guard.measure(volume_hu), trained)

    # ---- internals -----------------------------------------------------------------------
    def _denoise_slices(self, slices: np.ndarray, value_range: tuple[float, float]) -> torch.Tensor:
        """One batch, HU in and out (on the device); the conversions run there too, so a GPU
        worker's CPU does nothing but the two copies."""
        lo, hi = self.hu_window
        if not (slices.flags.c_contiguous and slices.flags.writeable) or min(slices.strides) < 0:
            # torch wraps neither negative strides (a reversed stack) nor read-only memory.
            slices = slices.copy()
        src = torch.from_numpy(slices).to(self.device)[:, None]
        x = hu_to_unit(src, lo, hi)
        y = self._ensemble(x, self._conditions(slices))
        out = unit_to_hu(y, lo, hi)
        if self.texture_share > 0:
            out = self._put_back_texture(src, out)
        return self._keep_input_rules(src, out, value_range)[:, 0]

    def _put_back_texture(self, src: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        """``out`` plus ``texture_share`` of what the network removed (input minus output)
        between the ``texture_band`` frequencies (cycles per pixel: the model works in pixels
        and never sees their spacing), or, with ``texture_relative``, between those multiples
        of each slice's own noise peak (:func:`noise_peak`). Pixels outside the HU window
        pass unchanged anyway (_keep_input_rules), so what the network did there is left out,
        not spread around."""
        lo, hi = self.hu_window
        removed_hu = torch.where((src < lo) | (src > hi), 0.0, src - out)
        h, w = out.shape[-2:]
        if (h, w) not in self._radii:
            fy = torch.fft.fftfreq(h, device=out.device)[:, None]
            fx = torch.fft.rfftfreq(w, device=out.device)[None, :]
            self._radii[(h, w)] = torch.sqrt(fy**2 + fx**2)  # radius, cycles per pixel
        radius = self._radii[(h, w)]
        removed = torch.fft.rfft2(removed_hu)
        if self.texture_relative:
            peak = noise_peak(removed, radius)[:, None, None, None]
            low, high = (peak * k for k in self.texture_relative)
        else:
            low, high = self.texture_band
        removed = removed * ((radius >= low) & (radius <= high))
        return out + self.texture_share * torch.fft.irfft2(removed, s=(h, w))

    def autocast(self):
        """The precision context of inference: bf16 autocast on CUDA unless amp is off."""
        if not self.amp:
            return nullcontext()
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
            return torch.autocast("cuda", dtype=dtype)
        if self.device.type == "mps":
            return torch.autocast("mps", dtype=torch.float16)
        return nullcontext()

    def _conditions(self, slices: np.ndarray) -> torch.Tensor | None:
        """Each slice's noise level measured in its air (denoiser.noise_level), for a
        network that takes it; None for one that does not."""
        if not getattr(getattr(self.net, "spec", None), "cond_dim", 0):
            return None
        cond = noise_level.slice_conditions(slices, self.hu_window[0])
        return torch.from_numpy(cond).to(self.device)

    def _ensemble(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Network output for a batch in unit space, float32: the mean over the first
        ``ensemble`` orientations of :data:`ORIENTATIONS`, each undone. The whole slice is
        turned before it is tiled (where large), so each orientation's tiles start on the
        network's grid, as without the ensemble."""
        total = None
        for flip, transpose in ORIENTATIONS[: self.ensemble]:
            y = self._network(_orient(x, flip, transpose), cond)
            y = _orient(y, flip, transpose, undo=True)
            total = y if total is None else total + y
        return total / self.ensemble if self.ensemble > 1 else total

    def _network(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """One pass of the network over a batch, slice by slice in tiles where large; a
        slice's condition goes with each of its tiles."""
        if x.shape[-2] * x.shape[-1] > self.max_tile_pixels:
            return torch.cat(
                [
                    self._tiled(x[i : i + 1], None if cond is None else cond[i : i + 1])
                    for i in range(len(x))
                ]
            )
        return self._forward(x, cond)

    def _forward(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """Network output in unit space, float32, contiguous, on the device."""
        if self.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.inference_mode(), self.autocast():
            y = self.net(x) if cond is None else self.net(x, cond)
        return y.float().contiguous()

    def _tiled(self, x: torch.Tensor, cond: torch.Tensor | None = None) -> torch.Tensor:
        """One slice as overlapping tiles; each keeps only its interior.

        The margin gives every kept pixel the context the network's receptive field uses,
        and tile origins sit on the network's downsampling grid (multiples of its padding
        multiple), so the tiles see the same strided grid as the whole slice and seams stay
        below a fraction of an HU (checked against the untiled result in the tests).
        """
        _, _, h, w = x.shape
        grid = int(getattr(self.net, "multiple", 1))
        margin = -(-TILE_MARGIN // grid) * grid
        step = max(grid, (TILE - 2 * margin) // grid * grid)
        out = torch.empty_like(x)
        for top in range(0, h, step):
            for left in range(0, w, step):
                t0, l0 = max(top - margin, 0), max(left - margin, 0)
                t1, l1 = min(top + step + margin, h), min(left + step + margin, w)
                y = self._forward(x[..., t0:t1, l0:l1], cond)
                bt, bl = min(top + step, h), min(left + step, w)
                out[..., top:bt, left:bl] = y[..., top - t0 : bt - t0, left - l0 : bl - l0]
        return out

    def _keep_input_rules(
        self, src: torch.Tensor, out: torch.Tensor, value_range: tuple[float, float]
    ) -> torch.Tensor:
        """Pixels outside the HU window pass unchanged; nothing leaves the volume's range."""
        lo, hi = self.hu_window
        out = torch.where((src < lo) | (src > hi), src, out)
        return out.clamp_(*value_range)


# The eight flips and transposes of a slice, as (dims flipped, transposed first). Ordered
# so that each ensemble size is a group: 2 = left-right mirror, 4 = the mirrors and the
# half turn, 8 = all; the mean of a group's outputs turns with the slice.
ORIENTATIONS: tuple[tuple[tuple[int, ...], bool], ...] = (
    ((), False),
    ((-1,), False),
    ((-2,), False),
    ((-2, -1), False),
    ((), True),
    ((-1,), True),
    ((-2,), True),
    ((-2, -1), True),
)


def _orient(x: torch.Tensor, flip: tuple[int, ...], transpose: bool, undo: bool = False):
    """``x`` (..., H, W) transposed, then flipped along ``flip``; ``undo``: the inverse."""
    if undo:
        x = x.flip(flip) if flip else x
        return x.transpose(-2, -1) if transpose else x
    x = x.transpose(-2, -1) if transpose else x
    return x.flip(flip) if flip else x


def noise_peak(spectrum: torch.Tensor, radius: torch.Tensor, bins: int = 64) -> torch.Tensor:
    """Per image of ``spectrum`` (rfft2 of a batch, (B, 1, H, W//2+1)), the radial frequency
    (cycles per pixel) where its power peaks, in 1/``bins`` steps from 0.03 up (below that
    is the slowest shading, not grain)."""
    power = (spectrum.abs() ** 2).flatten(1)
    index = (radius * bins).long().flatten()  # the corner, sqrt(0.5), is bin 0.71 x bins
    size = int(index.max()) + 1
    sums = torch.zeros(power.shape[0], size, dtype=power.dtype, device=power.device)
    sums.index_add_(1, index, power)
    mean = sums / torch.bincount(index, minlength=size).clamp(min=1)
    first = math.ceil(0.03 * bins)
    return (mean[:, first:].argmax(dim=1) + first + 0.5) / bins


def apply_generator(
    net: nn.Module, volume_hu: np.ndarray, hu_window: tuple[float, float], device: torch.device
) -> np.ndarray:
    """Denoise with an in-memory generator (used by validation during training)."""
    was_training = net.training
    # No channels_last here: it would re-layout the weights the optimiser is updating.
    d = Denoiser(net, hu_window=hu_window, device=device, channels_last=False)
    try:
        return d.denoise(volume_hu)
    finally:
        net.train(was_training)
