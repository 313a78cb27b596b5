"""What the DICOM standard says a CT image is, and the limits every reader here applies.

One home for facts that both the denoiser and the web app need: the CT SOP classes, the
geometry of an image plane, and how deep sequences may nest before a file is refused.
"""

from __future__ import annotations

import numpy as np
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.uid import CTImageStorage

ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.1"
LEGACY_ENHANCED_CT = "1.2.840.10008.5.1.4.1.1.2.2"
# What is read as CT in Hounsfield units: classic, enhanced and legacy converted enhanced.
CT_SOP_CLASSES = frozenset({CTImageStorage, ENHANCED_CT, LEGACY_ENHANCED_CT})
MULTIFRAME_CT_SOP_CLASSES = frozenset({ENHANCED_CT, LEGACY_ENHANCED_CT})

# Real CT objects nest sequences a few levels deep (enhanced CT's functional groups: 2,
# references inside them: 4). Deeper nesting only serves to exhaust a writer's recursion:
# pydicom's writer formats a traceback per level, which grows without bound.
MAX_SEQUENCE_DEPTH = 16
_UNDEFINED_LENGTH = 0xFFFFFFFF


class NestingTooDeep(ValueError):
    """Sequences nest deeper than MAX_SEQUENCE_DEPTH; the message names the path."""


def check_nesting(ds: Dataset, max_depth: int = MAX_SEQUENCE_DEPTH) -> None:
    """Raises NestingTooDeep when sequence items nest more than `max_depth` levels deep.

    Walks with an explicit stack (no recursion, whatever the file) and parses only
    sequences on the way: other values stay undecoded and are written back byte for byte.
    """
    stack: list[tuple[Dataset, int, tuple[str, ...]]] = [(ds, 0, ())]
    while stack:
        dataset, depth, path = stack.pop()
        for tag in list(dataset.keys()):
            if not _is_sequence(dataset, tag):
                continue
            element = dataset[tag]  # parses this level's items, not their sequences
            if element.VR != "SQ":
                continue
            name = element.keyword or str(element.tag)
            if element.value and depth + 1 > max_depth:
                shown = " > ".join((*path, name)[: max_depth + 1][-4:])
                raise NestingTooDeep(
                    f"sequences nested more than {max_depth} levels deep (... {shown} ...); "
                    "real CT images nest a few levels"
                )
            stack.extend((item, depth + 1, (*path, name)) for item in element.value or [])


def _is_sequence(ds: Dataset, tag) -> bool:
    element = ds.get_item(tag)
    if not element.is_raw or element.VR == "SQ":
        return element.VR == "SQ"
    if element.VR not in (None, "UN"):
        return False
    # Implicit VR (none in the file) or unknown: a sequence by the dictionary, or by its
    # undefined length (only sequences and encapsulated pixel data have one).
    if element.length == _UNDEFINED_LENGTH:
        return True
    try:
        return dictionary_VR(tag) == "SQ"
    except KeyError:
        return False


def slice_normal(ds: Dataset) -> np.ndarray | None:
    """Unit normal of the image plane (row direction x column direction), or None."""
    return plane_normal(ds.get("ImageOrientationPatient"))


def plane_normal(orientation) -> np.ndarray | None:
    """Unit normal of an ImageOrientationPatient value (six direction cosines), or None."""
    if orientation is None or len(orientation) != 6:
        return None
    try:
        row = np.array([float(v) for v in orientation[:3]])
        col = np.array([float(v) for v in orientation[3:]])
    except (TypeError, ValueError):
        return None
    normal = np.cross(row, col)
    norm = np.linalg.norm(normal)
    return normal / norm if norm > 0 else None
