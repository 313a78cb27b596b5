"""The randomised design of a reader study: reading orders and side assignments.

Pure functions of (seed, sizes, reader index, session), so a design is reproduced exactly
from its seed; the study stores the result as Presentation rows all the same, so the order
is auditable and never recomputed.

Sides are balanced two ways at once: a seeded vector puts the test condition on the left in
half of the cases, and every second reader (by index) sees that vector flipped. So each
reader sees the test condition on the left in half of their cases (one more or less when
the count is odd) and each case shows it on the left to half of the readers (within one).
"""

from __future__ import annotations

import random
from dataclasses import dataclass


@dataclass(frozen=True)
class Reading:
    """One presentation to create: the case's index in the study, its place and sides."""

    case_index: int
    position: int  # 1-based
    test_on_a: bool


def balanced(count: int, rng: random.Random) -> list[bool]:
    """`count` booleans, half True (the odd one drawn), in a random order."""
    trues = count // 2 + (rng.random() < 0.5 if count % 2 else 0)
    out = [True] * trues + [False] * (count - trues)
    rng.shuffle(out)
    return out


def _rng(seed: int, *parts) -> random.Random:
    # A string seed is hashed (SHA-512) the same way on every platform and Python version.
    return random.Random(":".join(str(p) for p in (seed, *parts)))


def session_one(
    seed: int, main: list[int], training: list[int], reader_index: int
) -> list[Reading]:
    """Session 1 of one reader: training cases first (study order), then the main cases in
    a shuffled order; `main` and `training` are case indexes in the study."""
    flip = reader_index % 2 == 1
    sides = dict(zip(main, balanced(len(main), _rng(seed, "sides", 1)), strict=True))
    practice = dict(zip(training, balanced(len(training), _rng(seed, "training")), strict=True))
    order = list(main)
    _rng(seed, "order", 1, reader_index).shuffle(order)
    readings = [Reading(c, 0, practice[c] != flip) for c in training]
    readings += [Reading(c, 0, sides[c] != flip) for c in order]
    return [Reading(r.case_index, n, r.test_on_a) for n, r in enumerate(readings, start=1)]


def session_two(seed: int, main: list[int], fraction: float, reader_index: int) -> list[Reading]:
    """The repeated reading of one reader: a random share of the main cases, in a fresh
    order with a fresh, balanced side assignment (independent of session 1's)."""
    if fraction <= 0 or not main:
        return []
    count = min(len(main), max(1, round(fraction * len(main))))
    rng = _rng(seed, "repeat", reader_index)
    chosen = rng.sample(list(main), count)  # sample order is already a random order
    sides = balanced(count, _rng(seed, "sides", 2, reader_index))
    return [
        Reading(c, n, test_on_a)
        for n, (c, test_on_a) in enumerate(zip(chosen, sides, strict=True), start=1)
    ]
