"""What ``python -m denoiser evaluate`` runs without options.

Kept apart from the benchmark and free of heavy imports: the command line reads these when it
builds its parser, which must stay instant.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_OUT = Path("benchmarks/denoiser/results")
DEFAULT_CACHE = Path("var/sim-cache")
DEFAULT_N_SLICES = 20
DEFAULT_SIZE = 512
DEFAULT_DOSE = 0.25
