"""The images a reader sees, made indistinguishable except for their pixels.

Each side's slice is built by `reader_study.imaging` with the UIDs of the presentation
(from its secret token), the reference series' geometry and the study's window, whichever
series it shows: so A and B are byte for byte identical, and of equal length, apart from
the pixel values; no description, date, device, derivation or source reference of either
series reaches the reader.
"""

from __future__ import annotations

from django.core.cache import cache

from reader_study.imaging import (
    PRESETS,
    Geometry,
    Slice,
    build,
    encode,
    header_of,
    hounsfield,
    slices,
)
from reader_study.models import Presentation, Series
from reader_study.reading import slots

STACK_CACHE_SECONDS = 3600


def side_series(presentation: Presentation, side: str) -> tuple[Series, Series]:
    """(the series shown on `side`, the reference series whose geometry both sides carry)."""
    reference, test = presentation.study.series_pair(presentation.study_case.case)
    shown = test if (side == "A") == presentation.test_on_a else reference
    return shown, reference


def blinded_file(presentation: Presentation, side: str, index: int) -> bytes | None:
    """Slice `index` of `side` as a normalised Part 10 file; None when out of range.

    Both sides' slices are decoded, whichever is sent: a series stored compressed (an
    uploaded original often is; a model's output never) takes longer to decode, and a
    reader could otherwise tell the sides apart by how long each takes to arrive.
    """
    with slots.builds.slot(first=index == 0):
        stacks = {s: _stacks(presentation, s)[0] for s in "AB"}
        geometry_slices = _stacks(presentation, side)[1]
        if not 0 <= index < min(len(stacks["A"]), len(stacks["B"]), len(geometry_slices)):
            return None
        pixels = {s: hounsfield(stacks[s][index]) for s in "AB"}[side]
        geometry = _geometry(geometry_slices[index])
        _, width, center = PRESETS.get(presentation.study.default_preset, PRESETS["abdomen"])
        return encode(build(presentation.token, index, geometry, pixels, (width, center)))


def _stacks(presentation: Presentation, side: str) -> tuple[list[Slice], list[Slice]]:
    """(the slices shown on `side`, the reference slices giving the geometry), kept a while:
    a stored series never changes, and a viewer asks for each of its slices in turn."""
    key = f"reading-stacks:{presentation.token}:{side}"  # unique, never reused
    found = cache.get(key)
    if found is None:
        shown, reference = side_series(presentation, side)
        found = (slices(shown, presentation.study_case), slices(reference, presentation.study_case))
        cache.set(key, found, STACK_CACHE_SECONDS)
    return found


def _geometry(item: Slice) -> Geometry:
    key = f"reading-geometry:{item.instance.sha256}:{item.instance.pk}:{item.frame}"
    found = cache.get(key)
    if found is None:
        found = header_of(item)
        cache.set(key, found, STACK_CACHE_SECONDS)
    return found


def slice_count(presentation: Presentation) -> int:
    shown, reference = side_series(presentation, "A")
    entry = presentation.study_case
    return min(len(slices(shown, entry)), len(slices(reference, entry)))
