"""De-identification without decoding every element: nested and private elements are still
found, untouched values are written back byte for byte, undecodable values still fail."""

from __future__ import annotations

import io

import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from reader_study.ingest.deid import _base_rules, deidentify
from reader_study.ingest.limits import current
from reader_study.ingest.report import SourceFile
from reader_study.ingest.validate import Rejected, check
from tests.ingest.dicom_files import dataset_bytes, shipped


def ct_with_nested_private(syntax: str) -> bytes:
    """A shipped CT slice with private tags at the top and inside a kept sequence, and a
    KVP value written with a leading space (valid DICOM, but not how pydicom writes it)."""
    ds = pydicom.dcmread(shipped("CT_small.dcm"))
    item = Dataset()
    item.CodeValue = "12345"
    item.CodingSchemeDesignator = "99LOCAL"
    item.add_new(0x00290010, "LO", "ACME CREATOR")
    item.add_new(0x00291001, "LO", "secret nested value")
    ds.DerivationCodeSequence = Sequence([item])
    ds.add_new(0x00310010, "LO", "ACME CREATOR")
    ds.add_new(0x00311001, "LO", "secret top value")
    ds.file_meta.TransferSyntaxUID = syntax
    ds.KVP = "120"
    data = dataset_bytes(ds)
    kvp = pydicom.dcmread(io.BytesIO(data)).get_item("KVP")
    assert data[kvp.value_tell : kvp.value_tell + 4] == b"120 "
    return data[: kvp.value_tell] + b" 120" + data[kvp.value_tell + 4 :]


def _private_tags(ds: Dataset) -> list:
    found = []
    ds.walk(lambda _ds, element: found.append(element.tag) if element.tag.is_private else None)
    return found


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_private_tags_go_at_every_depth_and_untouched_values_keep_their_bytes(syntax) -> None:
    data = ct_with_nested_private(syntax)
    source = SourceFile("nested.dcm", None, len(data), data=data)
    ds = check(source, current(), keep_dataset=True).dataset
    assert len(_private_tags(pydicom.dcmread(io.BytesIO(data)))) > 4  # CT_small has more
    deidentify(ds, case_key="k", label="case-1")
    out = pydicom.dcmread(io.BytesIO(dataset_bytes(ds)))
    original = pydicom.dcmread(io.BytesIO(data))
    # Written back as read (decoding and re-encoding would write "120 "); read raw first,
    # as any access decodes.
    assert out.get_item("KVP").value == b" 120"
    assert out.get_item("PixelData").value == original.get_item("PixelData").value
    assert out.KVP == 120
    assert _private_tags(out) == []
    assert out.DerivationCodeSequence[0].CodeValue == "12345"
    assert out.PatientName == "case-1"


def test_the_profile_keeps_no_private_tag() -> None:
    """deidentify deletes every private tag itself, which equals the library's own "delete
    all, restore those with a rule" only while the profile has no rule for a private tag."""
    assert not [rule for rule in _base_rules() if rule[0] % 2 == 1]


def _damage(data: bytes, marker: bytes, offset: int, new: bytes) -> bytes:
    at = data.index(marker) + offset
    return data[:at] + new + data[at + len(new) :]


# Explicit VR little endian: tag (4 bytes), VR (2), length (2), value.
DAMAGE = {
    # The first element inside the sequence's item gets an unknown VR.
    "nested unknown VR": (b"\xfe\xff\x00\xe0", 12, b"ZZ"),
    # Rows (US) holds 3 bytes: not a whole number of 2-byte values.
    "odd-length US": (b"\x28\x00\x10\x00US", 6, b"\x03\x00\x01\x02\x03"),
}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_a_value_no_reader_could_decode_is_refused_when_checked(damage: str) -> None:
    """Values are not decoded to check them, yet what decoding would refuse is refused."""
    data = ct_with_nested_private(ExplicitVRLittleEndian)
    damaged = _damage(data, *DAMAGE[damage])
    with pytest.raises(Rejected, match="unreadable or truncated"):
        check(SourceFile("bad.dcm", None, len(damaged), data=damaged), current())
