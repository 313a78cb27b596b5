"""DICOMweb proven with the real `dicomweb-client` library against a live server."""

from __future__ import annotations

import io
import re

import numpy as np
import pydicom
import pytest
import requests
from dicomweb_client.api import DICOMwebClient
from requests import HTTPError
from rest_framework.authtoken.models import Token

from reader_study.access import RESEARCHER
from reader_study.dicomweb.lookup import instance_path as lookup_path
from reader_study.models import Case
from tests.conftest import PASSWORD, make_user
from tests.ingest.dicom_files import dataset_bytes, shipped, write_ct_series

# serialized_rollback: the flush after a transactional test would drop the role groups.
pytestmark = pytest.mark.django_db(transaction=True, serialized_rollback=True)

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


@pytest.fixture
def series(tmp_path):
    return [pydicom.dcmread(p) for p in write_ct_series(tmp_path / "s", slices=6, size=32)]


@pytest.fixture
def stored(researcher, dicomweb_for, series):
    client = dicomweb_for(researcher)
    response = client.store_instances(series[::-1], additional_params={"label": "STOW-1"})
    return client, response


def test_stow_creates_a_case_and_lists_what_was_stored(stored):
    _, response = stored
    case = Case.objects.get()
    assert case.label == "STOW-1" and case.original_series.num_instances == 6
    assert len(response.ReferencedSOPSequence) == 6
    assert "FailedSOPSequence" not in response
    item = response.ReferencedSOPSequence[0]
    assert item.ReferencedSOPClassUID == CT_IMAGE and item.WarningReason == 0xB000
    assert case.study_instance_uid in item.RetrieveURL


def test_qido_finds_study_series_and_sorted_instances(stored):
    client, _ = stored
    case = Case.objects.get()
    studies = client.search_for_studies(search_filters={"PatientID": "STOW-1"})
    assert [s["0020000D"]["Value"][0] for s in studies] == [case.study_instance_uid]
    assert studies[0]["00201208"]["Value"] == [6]  # NumberOfStudyRelatedInstances
    assert client.search_for_studies(search_filters={"PatientName": "nobody*"}) == []
    series = client.search_for_series(case.study_instance_uid)
    series_uid = series[0]["0020000E"]["Value"][0]
    instances = client.search_for_instances(case.study_instance_uid, series_uid)
    expected = list(case.original_series.instances.values_list("sop_instance_uid", flat=True))
    assert [i["00080018"]["Value"][0] for i in instances] == expected


def test_wado_rs_retrieves_deidentified_instances_metadata_and_frames(stored, live_server):
    client, _ = stored
    case = Case.objects.get()
    series_uid = case.original_series.series_instance_uid
    first = case.original_series.instances.first()
    ds = client.retrieve_instance(case.study_instance_uid, series_uid, first.sop_instance_uid)
    assert ds.PatientIdentityRemoved == "YES" and str(ds.PatientName) == "STOW-1"
    assert ds.pixel_array.shape == (32, 32)
    everything = client.retrieve_series(case.study_instance_uid, series_uid)
    assert len(everything) == 6
    metadata = client.retrieve_series_metadata(case.study_instance_uid, series_uid)
    assert len(metadata) == 6 and "BulkDataURI" in metadata[0]["7FE00010"]
    assert "7FE00010" not in {k for k, v in metadata[0].items() if "InlineBinary" in v}
    frames = client.retrieve_instance_frames(
        case.study_instance_uid, series_uid, first.sop_instance_uid, frame_numbers=[1]
    )
    assert len(frames[0]) == 32 * 32 * 2
    png = client.retrieve_instance_rendered(
        case.study_instance_uid, series_uid, first.sop_instance_uid, media_types=("image/png",)
    )
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    jpeg = client.retrieve_instance_rendered(  # image/jpeg: PS3.18's default rendered type
        case.study_instance_uid, series_uid, first.sop_instance_uid, media_types=("image/jpeg",)
    )
    assert jpeg[:2] == b"\xff\xd8"
    url = f"{live_server.url}{lookup_path(first)}/rendered"
    not_jpeg = {**client._session.headers, "Accept": "image/jpeg;q=0, image/*"}
    response = requests.get(url, headers=not_jpeg, timeout=30)  # q=0 rules JPEG out
    assert response.headers["Content-Type"] == "image/png" and "Accept" in response.headers["Vary"]


def test_compressed_instance_as_stored_or_transcoded(researcher, dicomweb_for):
    client = dicomweb_for(researcher)
    client.store_instances(
        [pydicom.dcmread(shipped("693_J2KR.dcm"))], additional_params={"label": "j2k"}
    )
    case = Case.objects.get()
    instance = case.original_series.instances.get()
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.4.90"
    args = (
        case.study_instance_uid,
        case.original_series.series_instance_uid,
        instance.sop_instance_uid,
    )
    explicit = (("application/dicom", "1.2.840.10008.1.2.1"),)
    native = client.retrieve_instance(*args, media_types=explicit)
    assert native.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    # Decoding keeps the instance's identity (pydicom would give it a new UID).
    assert native.SOPInstanceUID == native.file_meta.MediaStorageSOPInstanceUID == args[2]
    as_stored = client.retrieve_instance(*args)  # dicomweb-client asks for transfer-syntax=*
    assert as_stored.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.4.90"
    assert (native.pixel_array == as_stored.pixel_array).all()


EXPLICIT, IMPLICIT = "1.2.840.10008.1.2.1", "1.2.840.10008.1.2"


def only_part(response) -> bytes:
    """The body of the one part of a multipart/related response."""
    boundary = response.headers["Content-Type"].split("boundary=")[1].strip('"').encode()
    part = response.content.split(b"--" + boundary)[1]
    return part.split(b"\r\n\r\n", 1)[1].rsplit(b"\r\n", 1)[0]


def in_syntax(ds, syntax: str):
    """``ds`` (native, little endian) re-encoded as a Part 10 file in an uncompressed syntax."""
    uid = pydicom.uid.UID(syntax)
    if not uid.is_little_endian:
        for element in ds.iterall():  # OW values are words: big endian swaps their bytes
            if element.VR == "OW":
                element.value = np.frombuffer(element.value, "<u2").astype(">u2").tobytes()
    ds.file_meta.TransferSyntaxUID = uid
    out = io.BytesIO()
    pydicom.dcmwrite(
        out,
        ds,
        implicit_vr=uid.is_implicit_VR,
        little_endian=uid.is_little_endian,
        force_encoding=True,
    )
    return pydicom.dcmread(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize(
    "stored_as",
    ["1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.2"],
    ids=["implicit", "explicit", "big-endian"],
)
def test_uncompressed_instances_come_back_in_either_native_syntax(
    researcher, dicomweb_for, tmp_path, live_server, stored_as
):
    client = dicomweb_for(researcher)
    paths = write_ct_series(tmp_path / "s", slices=2, size=32)
    originals = [pydicom.dcmread(p) for p in paths]
    lut = np.arange(250, 266, dtype="<u2").tobytes()  # an OW element besides the pixels
    for ds in originals:
        ds.add_new(0x00281201, "OW", lut)  # Red Palette Color Lookup Table Data
    pixels = [ds.pixel_array.copy() for ds in originals]
    client.store_instances([in_syntax(ds, stored_as) for ds in originals])
    case = Case.objects.get()
    stored = list(case.original_series.instances.all())  # de-identified: new UIDs
    assert {i.transfer_syntax_uid for i in stored} == {stored_as}
    first = stored[0]
    args = (case.study_instance_uid, case.original_series.series_instance_uid)
    explicit = client.retrieve_instance(
        *args, first.sop_instance_uid, media_types=(("application/dicom", EXPLICIT),)
    )
    assert explicit.file_meta.TransferSyntaxUID == EXPLICIT
    assert any((explicit.pixel_array == p).all() for p in pixels)
    assert explicit[0x00281201].value == lut
    # dicomweb-client will not ask for Implicit VR; PACS-era clients do.
    url = f"{live_server.url}/dicomweb/studies/{args[0]}/series/{args[1]}"
    implicit = requests.get(
        f"{url}/instances/{first.sop_instance_uid}",
        headers={
            **client._session.headers,
            "Accept": f'multipart/related; type="application/dicom"; transfer-syntax={IMPLICIT}',
        },
        timeout=30,
    )
    assert implicit.status_code == 200
    got = pydicom.dcmread(io.BytesIO(only_part(implicit)))
    assert got.file_meta.TransferSyntaxUID == IMPLICIT and got.is_implicit_VR
    assert (got.pixel_array == explicit.pixel_array).all()
    # The whole study in the default syntax (Explicit VR Little Endian), every part complete.
    study = client.retrieve_study(case.study_instance_uid, media_types=(("application/dicom",),))
    assert sorted(ds.SOPInstanceUID for ds in study) == sorted(i.sop_instance_uid for i in stored)
    # Cornerstone's wadouri: loader asks WADO-URI for application/dicom.
    params = {
        "requestType": "WADO",
        "studyUID": args[0],
        "seriesUID": args[1],
        "objectUID": first.sop_instance_uid,
        "contentType": "application/dicom",
        "transferSyntax": IMPLICIT,
    }
    response = requests.get(
        f"{live_server.url}/dicomweb/wado",
        params=params,
        headers=client._session.headers,
        timeout=30,
    )
    assert response.status_code == 200
    from_uri = pydicom.dcmread(io.BytesIO(response.content))
    assert from_uri.file_meta.TransferSyntaxUID == IMPLICIT
    assert (from_uri.pixel_array == explicit.pixel_array).all()


def test_a_chunked_stow_is_stored_by_the_products_server(researcher, gunicorn_url, series):
    """dicomweb-client sends bodies over its chunk_size (1 MB by default) chunked."""
    token, _ = Token.objects.get_or_create(user=researcher)
    headers = {"Authorization": f"Token {token.key}"}
    client = DICOMwebClient(url=f"{gunicorn_url}/dicomweb", headers=headers, chunk_size=4096)
    response = client.store_instances(series, additional_params={"label": "chunked"})
    assert len(response.ReferencedSOPSequence) == len(series)
    case = Case.objects.get(label="chunked")
    assert case.original_series.instances.count() == len(series)
    # A body of nothing but chunk framing is still an empty upload, not a hang or a 500.
    empty = requests.post(
        f"{gunicorn_url}/dicomweb/studies",
        data=iter([b""]),
        headers={
            **headers,
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=x',
        },
        timeout=30,
    )
    assert empty.status_code == 400 and "empty upload" in empty.json()["detail"]
    # Both framings at once (RFC 9112 6.3), or a coding we cannot undo: refused (by gunicorn
    # or by us), never read as a body.
    for extra in ({"Content-Length": "5"}, {}):
        te = "chunked" if extra else "gzip, chunked"
        response = requests.post(
            f"{gunicorn_url}/dicomweb/studies",
            data=b"x" * 5,
            headers={
                **headers,
                "Content-Type": "multipart/related; boundary=x",
                "Transfer-Encoding": te,
                **extra,
            },
            timeout=30,
        )
        assert response.status_code == 400, (te, response.text)


def test_a_server_that_cannot_read_a_chunked_body_says_so(researcher, live_server):
    """Django's own test server passes no chunked body on: 411, not a silent empty upload."""
    token, _ = Token.objects.get_or_create(user=researcher)
    response = requests.post(
        f"{live_server.url}/dicomweb/studies",
        data=iter([b"--x\r\n"]),  # a generator body: requests sends it chunked
        headers={
            "Authorization": f"Token {token.key}",
            "Content-Type": 'multipart/related; type="application/dicom"; boundary=x',
        },
        timeout=30,
    )
    assert response.status_code == 411 and "Content-Length" in response.json()["detail"]


def test_stow_reports_each_refused_instance(researcher, dicomweb_for, series):
    client = dicomweb_for(researcher)
    mr = pydicom.dcmread(shipped("MR_small.dcm"))
    response = client.store_instances(series[:2] + [mr], additional_params={"label": "mixed"})
    assert len(response.ReferencedSOPSequence) == 2
    [failed] = response.FailedSOPSequence
    assert failed.ReferencedSOPInstanceUID == mr.SOPInstanceUID
    assert failed.FailureReason == 0x0122  # SOP class not supported


def test_stow_of_nothing_usable_is_409_and_stores_nothing(researcher, dicomweb_for, live_server):
    client = dicomweb_for(researcher)
    with pytest.raises(HTTPError) as caught:
        client.store_instances([pydicom.dcmread(shipped("MR_small.dcm"))])
    assert caught.value.response.status_code == 409
    body = pydicom.Dataset.from_json(caught.value.response.content)
    assert body.FailedSOPSequence[0].FailureReason == 0x0122
    assert "modality MR" in caught.value.response.headers["Warning"]
    assert Case.objects.count() == 0


def test_wado_uri_for_cornerstone(stored, live_server, researcher):
    client, _ = stored
    case = Case.objects.get()
    instance = case.original_series.instances.first()
    params = {
        "requestType": "WADO",
        "studyUID": case.study_instance_uid,
        "seriesUID": case.original_series.series_instance_uid,
        "objectUID": instance.sop_instance_uid,
        "contentType": "application/dicom",
    }
    headers = client._session.headers
    response = requests.get(
        f"{live_server.url}/dicomweb/wado", params=params, headers=headers, timeout=30
    )
    assert response.status_code == 200 and response.headers["Content-Type"] == "application/dicom"
    assert pydicom.dcmread(io.BytesIO(response.content)).SOPInstanceUID == instance.sop_instance_uid
    params["contentType"] = "image/jpeg"
    jpeg = requests.get(
        f"{live_server.url}/dicomweb/wado", params=params, headers=headers, timeout=30
    )
    assert jpeg.status_code == 200 and jpeg.content[:2] == b"\xff\xd8"
    params["objectUID"] = "1.2.3"
    assert (
        requests.get(
            f"{live_server.url}/dicomweb/wado", params=params, headers=headers, timeout=30
        ).status_code
        == 404
    )


def test_another_researcher_finds_nothing(stored, dicomweb_for):
    case = Case.objects.get()
    other = dicomweb_for(make_user("otto", RESEARCHER))
    assert other.search_for_studies() == []
    assert other.search_for_instances() == []
    with pytest.raises(HTTPError) as caught:
        other.retrieve_study(case.study_instance_uid)
    assert caught.value.response.status_code == 404


def test_reader_and_anonymous_are_refused(stored, dicomweb_for, reader, live_server):
    with pytest.raises(HTTPError) as caught:
        dicomweb_for(reader).search_for_studies()
    assert caught.value.response.status_code == 403
    assert requests.get(f"{live_server.url}/dicomweb/studies", timeout=30).status_code == 401


def test_a_logged_in_researcher_stores_by_session_with_the_csrf_token(
    researcher, live_server, series
):
    session = requests.Session()
    login = session.get(f"{live_server.url}/accounts/login/", timeout=30)
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', login.text)[1]
    session.post(
        f"{live_server.url}/accounts/login/",
        data={"username": "rita", "password": PASSWORD, "csrfmiddlewaretoken": token},
        timeout=30,
    )
    body = b"".join(
        b"--b\r\nContent-Type: application/dicom\r\n\r\n" + dataset_bytes(ds) + b"\r\n"
        for ds in series
    )
    stow = {"data": body + b"--b--\r\n", "timeout": 30}
    url = f"{live_server.url}/dicomweb/studies?label=by-session"
    content_type = 'multipart/related; type="application/dicom"; boundary=b'
    refused = session.post(url, headers={"Content-Type": content_type}, **stow)
    assert refused.status_code == 403 and "CSRF" in refused.text  # a browser form cannot do it
    csrf = session.cookies["csrftoken"]
    stored = session.post(url, headers={"Content-Type": content_type, "X-CSRFToken": csrf}, **stow)
    assert stored.status_code == 200, stored.text
    assert Case.objects.get(label="by-session").original_series.instances.count() == len(series)


def test_searches_across_studies_carry_and_match_study_attributes(stored, live_server):
    client, _ = stored
    case = Case.objects.get()
    series = client.search_for_series(search_filters={"PatientID": "STOW*"})
    assert [s["0020000E"]["Value"][0] for s in series] == [case.original_series.series_instance_uid]
    assert series[0]["00100020"]["Value"] == ["STOW-1"]  # PatientID, a study attribute
    assert client.search_for_series(search_filters={"PatientID": "nobody"}) == []
    instances = client.search_for_instances(search_filters={"PatientName": "STOW-1"})
    assert len(instances) == 6 and instances[0]["0020000D"]["Value"] == [case.study_instance_uid]
    assert client.search_for_instances(search_filters={"PatientID": "nobody"}) == []
    # Tags in lower-case hex are the same keys (PS3.18 attributeID).
    lower = {"0020000d": case.study_instance_uid}
    assert len(client.search_for_studies(search_filters=lower)) == 1
    assert client.search_for_studies(search_filters={"0020000d": "1.2.3"}) == []
    headers = client._session.headers
    for bad in ("limit=abc", "limit=-1", "offset=x", "limit=\u00b2"):
        response = requests.get(
            f"{live_server.url}/dicomweb/studies?{bad}", headers=headers, timeout=30
        )
        assert response.status_code == 400 and bad.split("=")[0] in response.json()["detail"]
    xml = {**headers, "Accept": "application/dicom+xml"}
    refused = requests.get(f"{live_server.url}/dicomweb/studies", headers=xml, timeout=30)
    assert refused.status_code == 406
    assert requests.get(f"{live_server.url}/dicomweb/studies", timeout=30).status_code == 401
    study = client.search_for_studies()[0]
    assert study["00080056"]["Value"] == ["ONLINE"]  # InstanceAvailability


def test_frames_answer_a_list_of_acceptable_types_and_refuse_what_they_cannot_send(
    stored, live_server
):
    client, _ = stored
    case = Case.objects.get()
    instance = case.original_series.instances.first()
    url = f"{live_server.url}{lookup_path(instance)}/frames/1"
    jls = 'multipart/related; type="image/jls"; transfer-syntax=1.2.840.10008.1.2.4.80'
    native = 'multipart/related; type="application/octet-stream"; transfer-syntax=*'
    cases = {
        f"{jls}, {native};q=0.5": 200,  # what a viewer offering compressed first sends
        jls: 406,
        native.replace("=*", "=1.2.840.10008.1.2.5"): 406,  # RLE: not offered
        f"{native};q=0": 406,  # q=0: not acceptable
    }
    for accept, status in cases.items():
        response = requests.get(
            url, headers={**client._session.headers, "Accept": accept}, timeout=30
        )
        assert response.status_code == status, accept
    accept = {**client._session.headers, "Accept": f"{jls}, {native};q=0.5"}
    assert len(only_part(requests.get(url, headers=accept, timeout=30))) == 32 * 32 * 2


def _get(client, url: str, **kwargs) -> requests.Response:
    headers = {**client._session.headers, **kwargs.pop("headers", {})}
    return requests.get(url, headers=headers, timeout=30, **kwargs)


def test_qido_matches_dates_times_and_the_other_required_study_keys(stored, live_server):
    client, _ = stored
    study = client.search_for_studies()[0]
    date = study["00080020"]["Value"][0]  # de-identified: a dummy, but a valid DA
    time = study["00080030"].get("Value", ["000000"])[0]
    after = f"{int(date) + 1:08d}"

    def found(**filters) -> int:
        return len(client.search_for_studies(search_filters=filters))

    assert found(StudyDate=date) == 1 and found(StudyDate=f"{date}-{date}") == 1
    assert found(StudyDate=f"-{date}") == 1 and found(StudyDate=f"{after}-") == 0
    assert found(StudyDate=f"{after}-99991231") == 0 and found(StudyDate="-00010100") == 0
    assert found(StudyTime=f"{time[:4]}-{time[:4]}") == 1  # the whole minute
    assert found(StudyTime=f"{int(time[:2]) + 1:02d}00-") == 0
    assert found(AccessionNumber="no-such-accession") == 0
    assert found(StudyDescription="no such*") == 0 and found(StudyDescription="*") == 1
    assert found(ReferringPhysicianName="Nobody^*") == 0 and found(StudyID="no-such-id") == 0
    # A key given twice matches either value (here the UID list of two requests).
    uid = study["0020000D"]["Value"][0]
    url = f"{live_server.url}/dicomweb/studies"
    twice = _get(client, url, params=[("StudyInstanceUID", uid), ("StudyInstanceUID", "1.2.3")])
    assert len(twice.json()) == 1 and "Warning" not in twice.headers
    unknown = _get(client, url, params={"StudyDate": date, "NoSuchKey": "1"})
    assert (
        "NoSuchKey" in unknown.headers["Warning"] and "StudyDate" not in unknown.headers["Warning"]
    )


def test_a_bare_media_type_gets_a_single_part_body(stored, live_server):
    client, _ = stored
    instance = Case.objects.get().original_series.instances.first()
    url = f"{live_server.url}{lookup_path(instance)}"
    file = _get(client, url, headers={"Accept": "application/dicom"})
    assert file.status_code == 200 and file.headers["Content-Type"].startswith("application/dicom")
    assert pydicom.dcmread(io.BytesIO(file.content)).SOPInstanceUID == instance.sop_instance_uid
    frame = _get(client, f"{url}/frames/1", headers={"Accept": "application/octet-stream"})
    assert frame.headers["Content-Type"].startswith("application/octet-stream")
    assert len(frame.content) == 32 * 32 * 2
    multipart = 'multipart/related; type="application/octet-stream"'
    asked = _get(client, f"{url}/frames/1", headers={"Accept": multipart})
    assert asked.headers["Content-Type"].startswith("multipart/related")
    assert only_part(asked) == frame.content


def test_what_is_not_a_resource_is_a_json_404_after_the_login_check(stored, live_server):
    client, _ = stored
    for path in ("/dicomweb/studies/not-a-uid", "/dicomweb/studies/1.2.3/thumbnail", "/dicomweb/x"):
        missing = _get(client, f"{live_server.url}{path}")
        assert missing.status_code == 404 and "not a DICOMweb resource" in missing.json()["detail"]
        assert requests.get(f"{live_server.url}{path}", timeout=30).status_code == 401


def test_a_viewer_on_another_origin_reads_with_a_bearer_token(stored, live_server, settings):
    client, _ = stored
    settings.CORS_ALLOWED_ORIGINS = ["http://viewer.example"]
    url = f"{live_server.url}/dicomweb/studies"
    preflight = {
        "Access-Control-Request-Method": "GET",
        "Access-Control-Request-Headers": "authorization,accept",
    }
    allowed = requests.options(
        url, headers={"Origin": "http://viewer.example", **preflight}, timeout=30
    )
    assert allowed.status_code == 200
    assert allowed.headers["Access-Control-Allow-Origin"] == "http://viewer.example"
    assert "authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = requests.options(
        url, headers={"Origin": "http://evil.example", **preflight}, timeout=30
    )
    assert "Access-Control-Allow-Origin" not in other.headers
    token = client._session.headers["Authorization"].split()[1]
    bearer = {"Origin": "http://viewer.example", "Authorization": f"Bearer {token}"}
    found = requests.get(url, headers={**bearer, "Accept": "application/dicom+json"}, timeout=30)
    assert found.status_code == 200 and len(found.json()) == 1
    assert found.headers["Access-Control-Allow-Origin"] == "http://viewer.example"
    assert "Access-Control-Allow-Credentials" not in found.headers  # tokens, never cookies
    wrong = {**bearer, "Authorization": "Bearer not-a-token"}
    assert requests.get(url, headers=wrong, timeout=30).status_code == 401
    api = requests.get(f"{live_server.url}/api/me/", headers=bearer, timeout=30)
    assert "Access-Control-Allow-Origin" not in api.headers  # only DICOMweb is shared


def test_bulkdata_uris_resolve_for_dicomweb_client_under_the_public_url(
    stored, live_server, settings
):
    # dicomweb-client sends `Host: 127.0.0.1` without the port: URLs built from the Host
    # header point at port 80. LDCT_PUBLIC_URL (set by `make run`) names the real origin.
    client, _ = stored
    settings.LDCT_PUBLIC_URL = live_server.url
    case = Case.objects.get()
    series = case.original_series
    metadata = client.retrieve_series_metadata(case.study_instance_uid, series.series_instance_uid)
    uri = metadata[0]["7FE00010"]["BulkDataURI"]
    assert uri.startswith(f"{live_server.url}/dicomweb/studies/")
    assert len(client.retrieve_bulkdata(uri)[0]) == 32 * 32 * 2
    found = client.search_for_studies()[0]["00081190"]["Value"][0]  # RetrieveURL
    assert found == f"{live_server.url}/dicomweb/studies/{case.study_instance_uid}"


def test_study_keys_match_their_values_by_their_value_representation():
    # De-identification empties AccessionNumber, StudyID and the physician's name, so the
    # live tests only see them miss; here each key also hits.
    from pydicom.dataset import Dataset

    from reader_study.dicomweb.qido import _keep

    ds = Dataset()
    ds.AccessionNumber, ds.StudyID, ds.StudyDescription = "ACC-17", "S9", "CT Abdomen"
    ds.ReferringPhysicianName, ds.StudyDate, ds.StudyTime = "Who^Doctor", "20240131", "081500"
    ds.ModalitiesInStudy = ["CT", "SR"]
    hits = {
        "AccessionNumber": "ACC-17",
        "StudyID": "S?",
        "StudyDescription": "ct abd*",
        "ReferringPhysicianName": "WHO^*",
        "StudyDate": "20240101-20240131",
        "StudyTime": "08:15-0816",
        "ModalitiesInStudy": "MR,CT",
    }
    misses = {
        "AccessionNumber": "ACC-1",
        "StudyID": "S",
        "StudyDescription": "CT Chest*",
        "ReferringPhysicianName": "Other^*",
        "StudyDate": "20240201-",
        "StudyTime": "0816-",
        "ModalitiesInStudy": "MR",
    }
    for key, value in hits.items():
        assert _keep(ds, {key: [value]}), (key, value)
        assert not _keep(ds, {key: [misses[key]]}), (key, misses[key])
    assert _keep(ds, {"StudyDate": [misses["StudyDate"], "20240131"]})  # either value


def test_malformed_search_values_are_400_and_odd_keys_do_not_break_the_header(stored, live_server):
    client, _ = stored
    url = f"{live_server.url}/dicomweb/studies"
    for bad in ("StudyDate=2024-01-01", "StudyDate=2-", "StudyTime=8am", "StudyInstanceUID=1.2.*"):
        response = _get(client, f"{url}?{bad}")
        assert response.status_code == 400 and bad.split("=")[0] in response.json()["detail"]
    assert len(_get(client, f"{url}?StudyInstanceUID=").json()) == 1  # empty: any
    assert len(_get(client, f"{url}?ModalitiesInStudy=MR,CT").json()) == 1
    odd = _get(client, f"{url}?a%0d%0aSet-Cookie:%20x=1")
    assert odd.status_code == 200 and "Set-Cookie" not in odd.headers
    assert "a??Set-Cookie" in odd.headers["Warning"]


def test_answers_that_depend_on_accept_say_so_and_frames_refuse_what_they_cannot_send(
    stored, live_server
):
    client, _ = stored
    instance = Case.objects.get().original_series.instances.first()
    url = f"{live_server.url}{lookup_path(instance)}"
    for path, accept in (("", "application/dicom"), ("/frames/1", "application/octet-stream")):
        response = _get(client, f"{url}{path}", headers={"Accept": accept})
        assert "Accept" in response.headers["Vary"]
    two = _get(client, f"{url}/frames/1,1", headers={"Accept": "application/octet-stream"})
    assert two.status_code == 406  # several frames only come as multipart
    jpeg = f"application/dicom; transfer-syntax={pydicom.uid.JPEGBaseline8Bit}"
    mixed = f'{jpeg}, multipart/related; type="application/dicom"'
    response = _get(client, url, headers={"Accept": mixed})
    assert response.headers["Content-Type"].startswith("multipart/related")
    options = requests.options(
        f"{live_server.url}/dicomweb/nope", headers=client._session.headers, timeout=30
    )
    assert options.status_code == 404
