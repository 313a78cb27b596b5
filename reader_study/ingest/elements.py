"""Walking a dataset without decoding its values: they stay the bytes they were read as.

pydicom reads a file into raw elements (tag, VR, length, bytes) and decodes a value only
when it is accessed; a decoded element has to be encoded again when the file is written.
`Dataset.walk` decodes every element, and reading, de-identifying and writing a 512x512
CT file then cost about twice what they need (benchmarks/ingest/RESULTS.md). These helpers
parse only sequences, the one kind of element whose items hold further elements, so the
few values that de-identification changes are encoded again and every other element is
written back byte for byte.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import calcsize

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.tag import BaseTag
from pydicom.values import converters

UNDEFINED_LENGTH = 0xFFFFFFFF


def walk_tags(ds: Dataset, callback: Callable[[Dataset, BaseTag], None]) -> None:
    """Calls `callback(dataset, tag)` for every element, those inside sequences included.

    Sequences are parsed on the way (so a damaged nested item raises here); other values
    are not decoded. The callback may delete the element it is given.
    """
    for tag in list(ds.keys()):
        callback(ds, tag)
        if tag in ds and _is_sequence(ds, tag):
            element = ds[tag]  # parses the items
            if element.VR == "SQ":
                for item in element.value or []:
                    walk_tags(item, callback)


def check_decodable(ds: Dataset) -> None:
    """Raises where decoding some value of `ds` would raise, without decoding them.

    Decoding in pydicom fails on an unknown VR and on binary numbers whose length is not a
    whole number of values; any other damage it only logs (and reads as empty). Checking
    those two here keeps a file that no DICOM reader could read from being accepted, at a
    few microseconds an element instead of decoding it.
    """

    def check(dataset: Dataset, tag: BaseTag) -> None:
        element = dataset.get_item(tag)
        if element.is_raw:
            _check_raw(tag, element.VR or _dictionary_vr(tag), element.value)

    walk_tags(ds, check)


def _check_raw(tag: BaseTag, vr: str | None, value: bytes | None) -> None:
    if vr is None or " or " in vr or vr == "SQ":  # ambiguous VRs are settled when decoded
        return
    converter = converters.get(vr)
    if converter is None:
        raise NotImplementedError(f"unknown Value Representation {vr!r} in tag {tag}")
    if isinstance(converter, tuple) and value and len(value) % calcsize("=" + converter[1]):
        raise ValueError(f"tag {tag}: {len(value)} bytes are not a whole number of {vr} values")


def _dictionary_vr(tag: BaseTag) -> str | None:
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


def remove_private_tags(ds: Dataset) -> None:
    """`Dataset.remove_private_tags` without decoding every element on the way."""

    def remove(dataset: Dataset, tag: BaseTag) -> None:
        if tag.is_private:
            del dataset[tag]

    walk_tags(ds, remove)


def _is_sequence(ds: Dataset, tag: BaseTag) -> bool:
    element = ds.get_item(tag)
    if not element.is_raw or element.VR == "SQ":
        return element.VR == "SQ"
    if element.VR not in (None, "UN"):
        return False
    # Implicit VR (no VR in the file) or unknown: a sequence by the dictionary, or by its
    # undefined length (only sequences and encapsulated pixel data have one).
    return element.length == UNDEFINED_LENGTH or _dictionary_vr(tag) == "SQ"
