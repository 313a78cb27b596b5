"""Case pages, case API, uploads and DICOMweb: only the owner (and staff) get in.

CASE_URL_ACCESS is part of the project-wide access table: tests/platform/test_access.py
requires every named URL to appear in one of the tables, and this module checks
each entry here for anonymous, reader, owner and another researcher.
"""

from __future__ import annotations

import uuid

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from reader_study.access import RESEARCHER
from reader_study.ingest.service import ingest
from reader_study.models import UploadFile, UploadSession
from tests.conftest import make_user
from tests.ingest.conftest import sources
from tests.ingest.dicom_files import shipped

LOGIN = "login"
# name -> (method, arguments, (anonymous, reader, owner, other researcher))
CASE_URL_ACCESS = {
    "case-list": ("GET", "", (LOGIN, 403, 200, 200)),
    "case-upload": ("GET", "", (LOGIN, 403, 200, 200)),
    "case-detail": ("GET", "case", (LOGIN, 403, 200, 404)),
    "case-preview": ("GET", "case", (LOGIN, 403, 200, 404)),
    "case-slice": ("GET", "slice", (LOGIN, 403, 200, 404)),
    # The owned case has no denoised series: even its owner finds no difference.
    "case-difference": ("GET", "slice", (LOGIN, 403, 404, 404)),
    "api-cases": ("GET", "", (401, 403, 200, 200)),
    "api-case": ("GET", "case", (401, 403, 200, 404)),
    "api-uploads": ("GET", "", (401, 403, 200, 200)),
    "api-upload": ("GET", "upload", (401, 403, 200, 404)),
    "api-upload-files": ("POST", "upload", (401, 403, 400, 404)),
    "api-upload-chunk": ("PUT", "chunk", (401, 403, 200, 404)),
    "api-upload-batch": ("PUT", "batch", (401, 403, 200, 404)),
    "api-upload-ingest": ("POST", "upload", (401, 403, 409, 404)),
    "dicomweb:studies": ("GET", "", (401, 403, 200, 200)),
    "dicomweb:all-series": ("GET", "", (401, 403, 200, 200)),
    "dicomweb:all-instances": ("GET", "", (401, 403, 200, 200)),
    "dicomweb:study": ("GET", "study", (401, 403, 200, 404)),
    "dicomweb:study-metadata": ("GET", "study", (401, 403, 200, 404)),
    "dicomweb:study-series": ("GET", "study", (401, 403, 200, 200)),
    "dicomweb:study-instances": ("GET", "study", (401, 403, 200, 200)),
    "dicomweb:series": ("GET", "series", (401, 403, 200, 404)),
    "dicomweb:series-metadata": ("GET", "series", (401, 403, 200, 404)),
    "dicomweb:series-instances": ("GET", "series", (401, 403, 200, 200)),
    "dicomweb:instance": ("GET", "instance", (401, 403, 200, 404)),
    "dicomweb:instance-metadata": ("GET", "instance", (401, 403, 200, 404)),
    "dicomweb:frames": ("GET", "frames", (401, 403, 200, 404)),
    "dicomweb:rendered": ("GET", "instance", (401, 403, 200, 404)),
    "dicomweb:frame-rendered": ("GET", "frame", (401, 403, 200, 404)),
    "dicomweb:wado-uri": ("GET", "wado", (401, 403, 200, 404)),
    "dicomweb:no-such-resource": ("GET", "", (401, 403, 404, 404)),  # /dicomweb/ itself
}
WHO = ("anonymous", "reader", "owner", "other")


@pytest.fixture
def owned_case(researcher):
    ingest(owner=researcher, label="owned", sources=sources([shipped("CT_small.dcm")]))
    case = researcher.cases.get()
    series = case.original_series
    instance = series.instances.get()
    return case, series, instance


def _url(name: str, kind: str, owned, upload) -> tuple[str, str]:
    case, series, instance = owned
    study, series_uid, sop = (
        case.study_instance_uid,
        series.series_instance_uid,
        instance.sop_instance_uid,
    )
    query = ""
    args = {
        "": [],
        "case": [case.pk],
        "study": [study],
        "series": [study, series_uid],
        "instance": [study, series_uid, sop],
        "upload": [upload.public_id] if upload else [],
        "chunk": [upload.public_id, upload.files.get().pk, 0] if upload else [],
        "slice": [case.pk, series.pk, 0],
    }.get(kind)
    if kind == "frames":
        args = [study, series_uid, sop, "1"]
    if kind == "frame":
        args = [study, series_uid, sop, 1]
    if kind == "batch":
        args, query = [upload.public_id], f"?files={upload.files.get().pk}"
    if kind == "wado":
        args = []
        query = (
            f"?requestType=WADO&studyUID={study}&seriesUID={series_uid}&objectUID={sop}"
            "&contentType=application/dicom"
        )
    return reverse(name, args=args), query


def _call(path: str, method: str, user):
    if not path.startswith(("/api/", "/dicomweb/")):
        client = Client()
        if user:
            client.force_login(user)
        return client.get(path)
    api = APIClient()
    if user:
        api.force_authenticate(user)
    body = b"abcd" if method == "PUT" else None
    return getattr(api, method.lower())(
        path, data=body, content_type="application/octet-stream" if body else None
    )


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(CASE_URL_ACCESS))
def test_case_url_access(name, researcher, reader, owned_case):
    method, kind, expected = CASE_URL_ACCESS[name]
    users = {"anonymous": None, "reader": reader, "owner": researcher}
    users["other"] = make_user("otto", RESEARCHER)
    for who, want in zip(WHO, expected, strict=True):
        # A fresh upload per call: the owner's chunk PUT must find it open.
        upload = UploadSession.objects.create(public_id=uuid.uuid4(), owner=researcher, label="u")
        UploadFile.objects.create(session=upload, name="a.dcm", size_bytes=4, chunk_bytes=1024)
        path, query = _url(name, kind, owned_case, upload)
        response = _call(path + query, method, users[who])
        if want == LOGIN:
            assert response.status_code == 302, (name, who)
            assert response["Location"].startswith(reverse("login"))
        else:
            detail = getattr(response, "content", b"")[:300]
            assert response.status_code == want, (name, who, detail)
        if who == "other" and want == 200 and path.startswith("/dicomweb/"):
            assert owned_case[0].study_instance_uid.encode() not in response.content


@pytest.mark.django_db
def test_staff_sees_every_case(owned_case):
    client = Client()
    staff = make_user("stella", None)
    staff.is_staff = True
    staff.save()
    client.force_login(staff)
    assert client.get(reverse("case-detail", args=[owned_case[0].pk])).status_code == 200
    api = APIClient()
    api.force_authenticate(staff)
    assert len(api.get(reverse("api-cases")).json()) == 1
