"""Per-case adaptation: fine-tune a copy of the denoiser on the case's own low-dose slices.

The case itself is the one set of images that surely has the scanner's noise and the
patient's anatomy. A few hundred steps of the self-supervised R2R loss
(``denoiser.selfsupervised``) on patches of the case, with the noise spectrum estimated from
the case, adapt the network without any reference image. Whether it is worth its time is
measured in ``benchmarks/denoiser/results/general/adaptation.md``.
"""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass

import numpy as np
import torch

from denoiser.data import hu_to_unit
from denoiser.inference import Denoiser
from denoiser.selfsupervised import NoiseModel, r2r_loss


@dataclass(frozen=True)
class Adaptation:
    iterations: int = 200
    lr: float = 5e-5
    batch_size: int = 8
    patch_size: int = 64
    alpha: float = 0.5
    seed: int = 0


def adapt(model: Denoiser, volume_hu: np.ndarray, settings: Adaptation = Adaptation()):
    """A new Denoiser: ``model``'s network fine-tuned on ``volume_hu`` (slices, rows, cols)
    or one slice; ``model`` itself is untouched. Returns (denoiser, seconds)."""
    start = time.perf_counter()
    stack = np.asarray(volume_hu, np.float32)
    stack = stack[None] if stack.ndim == 2 else stack
    p = settings.patch_size
    if min(stack.shape[-2:]) < p:
        raise ValueError(f"slices of {stack.shape[-2:]} are smaller than the {p}-pixel patches")
    noise = NoiseModel.estimate(list(stack), p)
    lo, hi = model.hu_window
    units = hu_to_unit(stack, lo, hi)
    body = [np.argwhere(s > -500) for s in stack]
    rng = np.random.default_rng(settings.seed)
    gen = torch.Generator().manual_seed(settings.seed)
    net = copy.deepcopy(model.net).float().to(model.device).train()
    net = net.to(memory_format=torch.contiguous_format)
    opt = torch.optim.Adam(net.parameters(), lr=settings.lr)
    for _ in range(settings.iterations):
        batch = torch.from_numpy(_patches(units, body, p, settings.batch_size, rng)).to(
            model.device
        )
        loss = r2r_loss(net, batch, noise, settings.alpha, gen)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    adapted = Denoiser(
        net.eval(),
        name=model.name,
        version=f"{model.version}+adapted",
        model_card=model.model_card,
        config=model.config,
        hu_window=model.hu_window,
        device=model.device,
        batch_size=model.batch_size,
    )
    return adapted, time.perf_counter() - start


def _patches(units: np.ndarray, body: list[np.ndarray], p: int, n: int, rng) -> np.ndarray:
    out = np.empty((n, 1, p, p), np.float32)
    h, w = units.shape[-2:]
    for k in range(n):
        i = int(rng.integers(len(units)))
        if len(body[i]):
            r, c = body[i][rng.integers(len(body[i]))]
        else:
            r, c = rng.integers(h), rng.integers(w)
        top, left = int(np.clip(r - p // 2, 0, h - p)), int(np.clip(c - p // 2, 0, w - p))
        out[k, 0] = units[i, top : top + p, left : left + p]
    return out
