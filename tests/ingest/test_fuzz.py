"""Property-based fuzzing of the ingest entry point: any bytes give a report or a 4xx, no 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reader_study.ingest.report import IngestError, SourceFile
from reader_study.ingest.service import ingest
from tests.ingest.dicom_files import as_bytes, shipped

pytestmark = pytest.mark.django_db

CT = as_bytes(shipped("CT_small.dcm"))
FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@st.composite
def damaged_ct(draw) -> bytes:
    """CT_small.dcm with bytes flipped, cut or inserted, mostly in the header."""
    data = bytearray(CT)
    for _ in range(draw(st.integers(1, 6))):
        where = draw(st.integers(0, min(len(data) - 1, 2000)) | st.integers(0, len(data) - 1))
        kind = draw(st.sampled_from(["flip", "cut", "insert"]))
        if kind == "flip":
            data[where] = draw(st.integers(0, 255))
        elif kind == "cut":
            del data[where : where + draw(st.integers(1, 5000))]
        else:
            data[where:where] = draw(st.binary(min_size=1, max_size=64))
        if not data:
            break
    return bytes(data)


def _ingest_bytes(owner, tmp_path, blobs: list[bytes]):
    sources = []
    for index, blob in enumerate(blobs):
        path = tmp_path / f"fuzz-{index}.dcm"
        path.write_bytes(blob)
        sources.append(SourceFile(path.name, path, len(blob)))
    try:
        report = ingest(owner=owner, label="fuzz", sources=sources)
    except IngestError as exc:
        assert 400 <= exc.status < 500
        assert exc.report.message
        return
    assert report.ok and report.case


@FUZZ
@given(blobs=st.lists(damaged_ct() | st.binary(max_size=4096), min_size=1, max_size=3))
def test_ingest_never_fails_unexpectedly(researcher, tmp_path, blobs):
    _ingest_bytes(researcher, tmp_path, blobs)
