"""A refused zip leaves none of its (possibly identified) bytes behind."""

from __future__ import annotations

import io
import zipfile

import pytest

from reader_study.models import UploadFile
from tests.ingest import upload_client as uc
from tests.ingest.dicom_files import as_bytes, shipped

pytestmark = [pytest.mark.django_db, pytest.mark.security]


def _zip(members: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


@pytest.mark.parametrize(
    "members",
    [
        {"../../x.dcm": b"identified"},  # unsafe path
        {"zeros.dcm": bytes(20_000_000)},  # a bomb
    ],
)
def test_no_bytes_of_a_refused_zip_remain(members, api, media_root):
    archive = _zip(members)
    response = uc.upload(api, "refused", [("evil.zip", archive)])
    assert response.status_code == 422, response.content
    assert "evil.zip" in response.json()["detail"]
    leftovers = [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []
    assert leftovers == []
    assert UploadFile.objects.get().verdict["status"] == "rejected"


def test_a_refused_zip_beside_good_files_is_dropped_and_the_rest_kept(api, media_root):
    ct = as_bytes(shipped("CT_small.dcm"))
    session = uc.start(api, "mixed")
    uc.send_missing(api, session, [("evil.zip", _zip({"../x.dcm": ct})), ("ct.dcm", ct)])
    response = uc.finish(api, session)
    assert response.status_code == 201, response.content
    rows = {r["name"]: r["status"] for r in response.json()["files"]}
    assert rows["evil.zip"] == "rejected" and rows["ct.dcm"] == "accepted"
