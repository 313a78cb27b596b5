"""A tiny file whose sequences nest hundreds deep is refused at every entry, before any
de-identification or write (pydicom's writer formats a traceback per level: unbounded)."""

from __future__ import annotations

import io
import zipfile

import pytest
from django.urls import reverse

from reader_study.ingest.limits import current
from reader_study.ingest.report import SourceFile
from reader_study.ingest.validate import Rejected, check
from reader_study.models import Case
from tests.ingest import upload_client as uc
from tests.security.conftest import nested_ct

pytestmark = [pytest.mark.django_db, pytest.mark.security]
HOSTILE_DEPTHS = [17, 100, 500]


@pytest.mark.parametrize("depth", HOSTILE_DEPTHS)
def test_check_refuses_deep_nesting_with_the_reason(depth, tmp_path):
    data = nested_ct(tmp_path, depth)
    with pytest.raises(Rejected, match="sequences nested more than 16 levels deep"):
        check(SourceFile("deep.dcm", None, len(data), data=data), current())


@pytest.mark.parametrize("depth", [1, 16])
def test_real_nesting_depths_pass(depth, tmp_path):
    data = nested_ct(tmp_path, depth)
    checked = check(SourceFile("ok.dcm", None, len(data), data=data), current())
    assert checked.rows == 32


@pytest.mark.parametrize("depth", HOSTILE_DEPTHS)
def test_upload_api_names_the_file(depth, api, tmp_path, media_root):
    response = uc.upload(api, "deep", [(f"deep-{depth}.dcm", nested_ct(tmp_path, depth))])
    assert response.status_code == 422, response.content
    row = response.json()["files"][0]
    assert row["name"] == f"deep-{depth}.dcm" and row["status"] == "rejected"
    assert "nested more than 16 levels" in row["reason"]
    assert not Case.objects.exists()


def test_zip_member_is_refused_and_the_rest_ingested(api, tmp_path):
    buffer = io.BytesIO()
    good = nested_ct(tmp_path, 2, seed=1)
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("scan/deep.dcm", nested_ct(tmp_path, 300))
        archive.writestr("scan/good.dcm", good)
    response = uc.upload(api, "zipped", [("study.zip", buffer.getvalue())])
    assert response.status_code == 201, response.content
    rows = {r["name"]: r for r in response.json()["files"]}
    assert rows["study.zip/scan/deep.dcm"]["status"] == "rejected"
    assert "nested more than 16 levels" in rows["study.zip/scan/deep.dcm"]["reason"]
    assert rows["study.zip/scan/good.dcm"]["status"] == "accepted"


@pytest.mark.parametrize("depth", [100, 300])
def test_stow_refuses_per_instance(depth, api, tmp_path):
    boundary = "deep-boundary"
    body = (
        f"--{boundary}\r\nContent-Type: application/dicom\r\n\r\n".encode()
        + nested_ct(tmp_path, depth)
        + f"\r\n--{boundary}--\r\n".encode()
    )
    response = api.post(
        reverse("dicomweb:studies") + "?label=deep",
        body,
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
        HTTP_ACCEPT="application/dicom+json",
    )
    assert response.status_code == 409, response.content[:300]
    assert "nested more than 16 levels" in response["Warning"]
    assert not Case.objects.exists()
