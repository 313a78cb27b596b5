"""Malformed ids, digests and names get a 400 that names the field, never a 500."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reader_study.models import UploadFile
from tests.ingest import upload_client as uc
from tests.ingest.dicom_files import as_bytes, shipped

pytestmark = [pytest.mark.django_db, pytest.mark.security]
HUGE = "9999999999999999999999999"


@pytest.mark.parametrize(
    "method, url, body, field",
    [
        ("get", "/api/jobs/progress/?ids=" + HUGE, None, "ids"),
        ("get", "/api/jobs/progress/?ids=1,abc", None, "ids"),
        ("get", "/api/jobs/?case=" + HUGE, None, "case"),
        ("get", "/api/jobs/?case=-1", None, "case"),
        ("post", "/api/jobs/", {"cases": [int(HUGE)]}, "cases"),
        ("post", "/api/jobs/", {"cases": [1], "model": int(HUGE)}, "model"),
        ("post", "/api/jobs/", {"cases": [True]}, "cases"),
        (
            "post",
            "/api/training-jobs/",
            {"name": "x", "low_dose_cases": [int(HUGE)], "normal_dose_cases": [1]},
            "low_dose_cases",
        ),
    ],
)
def test_ids_out_of_range_are_400_naming_the_field(method, url, body, field, api):
    response = getattr(api, method)(url, body, format="json")
    assert response.status_code == 400, response.content
    assert f"'{field}'" in response.json()["detail"]


@pytest.mark.parametrize("url", ["/api/jobs/" + HUGE + "/", "/api/cases/" + HUGE + "/"])
def test_ids_out_of_range_in_urls_are_404(url, api):
    assert api.get(url).status_code == 404


@pytest.mark.parametrize(
    "header, reason",
    [
        ("sha-256=:A:", "not 32 bytes of base64"),
        ("sha-256=:%%%:", "not 32 bytes of base64"),
        ("sha-256=abc", "not 32 bytes of base64"),
        ("sha-512=:AAAA:", "no sha-256 value"),
        ("garbage", "malformed Content-Digest"),
    ],
)
def test_malformed_digests_are_refused(header, reason, api):
    data = as_bytes(shipped("CT_small.dcm"))
    session = uc.start(api, "digest")
    info = uc.announce(api, session, [("a.dcm", data)]).json()["files"][0]
    response = api.put(
        reverse("api-upload-chunk", args=[session["id"], info["id"], 0]),
        data=data,
        content_type="application/octet-stream",
        HTTP_CONTENT_DIGEST=header,
    )
    assert response.status_code == 400, response.content
    assert reason in response.json()["detail"]
    assert UploadFile.objects.get().received == []  # not kept


@pytest.mark.parametrize("label", ["evil\x1b[31mred", "bell\x07", "two\nlines", "nul\x00"])
def test_control_characters_in_labels_are_refused(label, api):
    response = api.post(reverse("api-uploads"), {"label": label}, format="json")
    assert response.status_code == 400 and "control characters" in response.json()["detail"]
    stow = api.post(
        reverse("dicomweb:studies") + "?label=" + label.replace("\n", "%0A"),
        b"--b--",
        content_type='multipart/related; type="application/dicom"; boundary=b',
    )
    assert stow.status_code == 400 and "control characters" in stow.json()["detail"]


@pytest.mark.parametrize("name", ["scan\r\n.dcm", "esc\x1b.dcm", "dir/\x07.dcm"])
def test_control_characters_in_file_names_are_refused(name, api):
    session = uc.start(api, "names")
    response = uc.announce(api, session, [(name, b"x" * 10)])
    assert response.status_code == 400
    assert "control characters" in response.json()["detail"]
    assert not UploadFile.objects.exists()
