"""The methods a benchmark compares: baselines by name, learned models by checkpoint, and the
two reference rows every table lists beside them (the low-dose input and the normal-dose image);
and what measuring one yields (``MethodResult``), which the tables and figures read.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np

from denoiser import metrics as M
from denoiser.baselines import BASELINES

Method = Callable[[np.ndarray], np.ndarray]

LD_NAME, ND_NAME = "LD (input)", "ND (reference)"


@dataclass
class MethodResult:
    """One method on the simulated set: a row of metrics per slice, and what is pooled."""

    name: str
    rows: list[dict[str, float]] = field(default_factory=list)
    nps: M.NoisePowerSpectrum | None = None
    lesion_edge: M.EdgeSpread | None = None  # pooled over every lesion of the set
    images: list[np.ndarray] = field(default_factory=list)  # outputs, for NPS and figures

    def mean(self, key: str) -> float:
        values = [r[key] for r in self.rows if np.isfinite(r[key])]
        return float(np.mean(values)) if values else math.nan

    def sd(self, key: str) -> float:
        values = [r[key] for r in self.rows if np.isfinite(r[key])]
        return float(np.std(values, ddof=1)) if len(values) > 1 else math.nan


def build_methods(
    names: Sequence[str] | None,
    checkpoints: Sequence[str | None],
    *,
    device: str | None = None,
) -> dict[str, Method]:
    """Baselines by name (None: every baseline) plus one learned model per checkpoint (None:
    the shipped default).

    A model with a texture blend is also listed without it (the network's output alone), so
    the table shows what the blend adds and costs.
    """
    methods: dict[str, Method] = {}
    for name in BASELINES if names is None else names:
        if name not in BASELINES:
            raise SystemExit(f"unknown method {name!r}; choose from {sorted(BASELINES)}")
        methods[name] = BASELINES[name]
    for path in checkpoints:
        from denoiser.inference import Denoiser  # torch only when a model is evaluated

        model = Denoiser.load(path, device=device)
        label = f"{model.name} {model.version}"
        # Several checkpoints side by side (often the same name and version): say which file.
        named = path is not None and len(checkpoints) > 1
        key = f"{label} ({path})" if named or label in methods else label
        methods[key] = model.denoise
        if model.texture_share > 0:
            bare = Denoiser.load(path, device=device, texture_blend=False)
            methods[f"{key}, no texture blend"] = bare.denoise
    return methods
