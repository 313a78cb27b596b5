"""STOW-RS with hostile bodies: malformed multipart, odd headers, random parts. Never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from tests.ingest.dicom_files import as_bytes, shipped

pytestmark = pytest.mark.django_db

CT = as_bytes(shipped("CT_small.dcm"))
BOUNDARY = "fuzz-boundary"


def _body(parts: list[bytes], tail: bytes) -> bytes:
    out = b""
    for part in parts:
        out += f"--{BOUNDARY}\r\nContent-Type: application/dicom\r\n\r\n".encode() + part + b"\r\n"
    return out + tail


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    parts=st.lists(st.binary(max_size=512) | st.just(CT[:4000]) | st.just(CT), max_size=3),
    tail=st.sampled_from([f"--{BOUNDARY}--\r\n".encode(), b"", b"--", b"garbage"]),
    content_type=st.sampled_from(
        [
            f'multipart/related; type="application/dicom"; boundary={BOUNDARY}',
            "multipart/related; type=application/dicom",
            f"multipart/related; boundary={BOUNDARY}",
            "application/dicom",
            f'multipart/related; type="application/dicom+json"; boundary={BOUNDARY}',
        ]
    ),
)
def test_stow_answers_hostile_bodies_with_4xx_or_success(researcher, parts, tail, content_type):
    api = APIClient()
    api.force_authenticate(researcher)
    response = api.post(
        "/dicomweb/studies?label=fuzz", _body(parts, tail), content_type=content_type
    )
    assert response.status_code < 500, response.content[:300]
    assert response.status_code in (200, 202, 400, 409, 413, 415)
