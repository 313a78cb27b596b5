"""The upload API: chunked, resumable, one case per upload, clear refusals."""

from __future__ import annotations

import io
import threading
import zipfile

import pydicom
import pytest
from django.db import connection
from django.urls import reverse
from pydicom.encaps import encapsulate

from reader_study.access import RESEARCHER
from reader_study.models import Case, Instance, UploadSession
from tests.conftest import make_user
from tests.ingest import upload_client as uc
from tests.ingest.dicom_files import as_bytes, edit, shipped, write_ct_series

pytestmark = pytest.mark.django_db


@pytest.fixture
def api(researcher, token_client):
    return token_client(researcher)


@pytest.fixture(autouse=True)
def small_chunks(settings):
    settings.LDCT_UPLOAD_CHUNK_BYTES = 64 * 1024


def series_files(tmp_path, slices=5, size=192, seed=0, prefix="scan"):
    paths = write_ct_series(tmp_path / f"s{seed}", slices=slices, size=size, seed=seed)
    return [(f"{prefix}/{p.name}", p.read_bytes()) for p in paths]


def assert_nothing_stored(media_root):
    assert Case.objects.count() == 0 and Instance.objects.count() == 0
    assert not (media_root / "cases").exists()


def test_chunked_upload_makes_a_case(api, tmp_path):
    files = series_files(tmp_path)  # 192x192 files: 2 chunks of 64 KiB each
    response = uc.upload(api, "LDCT-100", files)
    assert response.status_code == 201, response.content
    report = response.json()
    assert report["counts"]["accepted"] == 5 and report["case"]["slices"] == 5
    assert "Case 'LDCT-100' created" in report["message"]
    case = Case.objects.get()
    assert case.label == "LDCT-100" and case.original_series.num_instances == 5
    assert UploadSession.objects.get().status == UploadSession.Status.INGESTED


def test_interrupted_upload_resumes_where_it_stopped(api, tmp_path):
    files = series_files(tmp_path, slices=4)
    session = uc.start(api, "resume")
    assert uc.send_missing(api, session, files, stop_after=3) == 3
    # "Reload": the page finds the open upload and announces the same files again.
    open_uploads = api.get(reverse("api-uploads")).json()
    assert [u["id"] for u in open_uploads] == [session["id"]]
    total = sum(len(data) for _, data in files)
    assert open_uploads[0]["bytes_total"] == total
    assert 0 < open_uploads[0]["bytes_received"] < total
    assert uc.finish(api, session).status_code == 409  # not complete yet, says which files
    sent = uc.send_missing(api, session, files)
    assert sent == 8 - 3  # only the rest travelled
    assert uc.finish(api, session).status_code == 201
    assert Instance.objects.count() == 4


def test_resent_chunk_is_idempotent_and_digest_checked(api, tmp_path):
    files = series_files(tmp_path, slices=1)
    session = uc.start(api, "digest")
    info = uc.announce(api, session, files).json()["files"][0]
    assert uc.put_chunk(api, session["id"], info, files[0][1], 0).status_code == 200
    assert uc.put_chunk(api, session["id"], info, files[0][1], 0).status_code == 200
    assert uc.announce(api, session, files).json()["files"][0]["received"] == [0]
    bad = api.put(
        reverse("api-upload-chunk", args=[session["id"], info["id"], 1]),
        data=files[0][1][64 * 1024 :],
        content_type="application/octet-stream",
        HTTP_CONTENT_DIGEST="sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:",
    )
    assert bad.status_code == 400 and "Content-Digest" in bad.json()["detail"]
    short = api.put(
        reverse("api-upload-chunk", args=[session["id"], info["id"], 1]),
        data=b"xx",
        content_type="application/octet-stream",
    )
    assert (
        short.status_code == 400 and "scan/CT0001.dcm, chunk 1: expected" in short.json()["detail"]
    )


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_two_researchers_uploading_at_once_get_separate_cases(tmp_path, token_client):
    files = series_files(tmp_path, slices=3)
    users = [make_user("ann", RESEARCHER), make_user("ben", RESEARCHER)]
    results = {}

    def run(user):
        try:
            results[user.username] = uc.upload(token_client(user), f"case of {user}", files)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(u,)) for u in users]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    assert {r.status_code for r in results.values()} == {201}
    cases = Case.objects.order_by("owner__username")
    assert [c.owner.username for c in cases] == ["ann", "ben"]
    assert [c.original_series.num_instances for c in cases] == [3, 3]
    assert cases[0].study_instance_uid != cases[1].study_instance_uid


def _zip(members: dict[str, bytes], compression=zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression) as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return buffer.getvalue()


def test_zip_of_a_series_is_ingested(api, tmp_path):
    files = series_files(tmp_path, slices=3)
    archive = _zip({name: data for name, data in files} | {"README.txt": b"hello"})
    response = uc.upload(api, "zipped", [("study.zip", archive)])
    assert response.status_code == 201, response.content
    rows = {f["name"]: f for f in response.json()["files"]}
    assert rows["study.zip/scan/CT0001.dcm"]["status"] == "accepted"
    assert rows["study.zip/README.txt"]["status"] == "rejected"
    assert "not a DICOM file" in rows["study.zip/README.txt"]["reason"]


def _bad_inputs(tmp_path) -> dict:
    ct = shipped("CT_small.dcm")
    two = series_files(tmp_path, slices=2, size=32, seed=1) + series_files(
        tmp_path, slices=2, size=32, seed=2, prefix="other"
    )
    no_pixels = edit(ct, tmp_path / "nopix.dcm", PixelData=None)
    # Uncompressed pixels are checked, not decoded: still refused when they cannot be.
    short_pixels = edit(ct, tmp_path / "short.dcm", PixelData=bytes(1000))
    bad_bits = edit(ct, tmp_path / "bits.dcm", BitsAllocated=12)
    # A JPEG 2000 file whose codestream is damaged: parses, but cannot be decoded.
    undecodable = tmp_path / "undecodable.dcm"
    ds = pydicom.dcmread(shipped("693_J2KR.dcm"))
    ds.PixelData = encapsulate([b"\xff\x4f\xff\x51" + bytes(200)])
    ds.save_as(undecodable)
    return {
        "random bytes": (
            [("noise.dcm", bytes(range(256)) * 40)],
            422,
            "noise.dcm: not a DICOM file",
        ),
        "truncated": ([("cut.dcm", as_bytes(ct)[:20000])], 422, "cut.dcm: "),
        "non-CT modality": (
            [("scan_042.dcm", as_bytes(shipped("MR_small.dcm")))],
            422,
            "scan_042.dcm: modality MR, only CT is accepted",
        ),
        "two series": (two, 422, "2 series in one upload"),
        "no pixel data": ([("nopix.dcm", as_bytes(no_pixels))], 422, "nopix.dcm: no pixel data"),
        "undecodable": ([("undecodable.dcm", as_bytes(undecodable))], 422, "undecodable.dcm: "),
        "short native pixel data": (
            [("short.dcm", as_bytes(short_pixels))],
            422,
            "short.dcm: cannot decode pixel data",
        ),
        "bad BitsAllocated": (
            [("bits.dcm", as_bytes(bad_bits))],
            422,
            "bits.dcm: cannot decode pixel data",
        ),
        "zip bomb": (
            [("bomb.zip", _zip({"zeros.dcm": bytes(20_000_000)}))],
            422,
            "bomb.zip: entry 'zeros.dcm' expands",
        ),
        "zip slip": (
            [("evil.zip", _zip({"../../x.dcm": as_bytes(ct)}))],
            422,
            "evil.zip: entry '../../x.dcm' has an unsafe path",
        ),
    }


@pytest.mark.parametrize(
    "case",
    [
        "random bytes",
        "truncated",
        "non-CT modality",
        "two series",
        "no pixel data",
        "undecodable",
        "short native pixel data",
        "bad BitsAllocated",
        "zip bomb",
        "zip slip",
    ],
)
def test_bad_input_is_a_clear_4xx_and_stores_nothing(case, api, tmp_path, media_root):
    files, status, text = _bad_inputs(tmp_path)[case]
    response = uc.upload(api, "bad", files)
    assert response.status_code == status, response.content
    assert text in response.json()["detail"], response.json()["detail"]
    assert_nothing_stored(media_root)
    assert api.get(reverse("api-me")).status_code == 200  # the server is still up


def test_empty_upload_is_400(api, media_root):
    session = uc.start(api, "empty")
    response = uc.finish(api, session)
    assert response.status_code == 400 and "empty upload" in response.json()["detail"]
    assert uc.announce(api, session, []).status_code == 400
    assert_nothing_stored(media_root)


def test_oversize_upload_is_413(api, settings, media_root):
    settings.LDCT_MAX_UPLOAD_BYTES = 100_000
    session = uc.start(api, "big")
    response = uc.announce(api, session, [("a.dcm", b"x" * 60_000), ("b.dcm", b"x" * 60_000)])
    assert response.status_code == 413 and "LDCT_MAX_UPLOAD_BYTES" in response.json()["detail"]
    assert_nothing_stored(media_root)


def test_too_many_files_is_413(api, settings):
    settings.LDCT_MAX_FILES_PER_CASE = 2
    session = uc.start(api, "many")
    response = uc.announce(api, session, [(f"{i}.dcm", b"x") for i in range(3)])
    assert response.status_code == 413 and "LDCT_MAX_FILES_PER_CASE" in response.json()["detail"]


def test_transfer_syntax_outside_the_setting_is_refused(api, settings, media_root):
    settings.LDCT_ACCEPTED_TRANSFER_SYNTAXES = ["1.2.840.10008.1.2.1"]
    response = uc.upload(api, "j2k", [("j2k.dcm", as_bytes(shipped("693_J2KR.dcm")))])
    assert response.status_code == 422
    assert "j2k.dcm: transfer syntax 1.2.840.10008.1.2.4.90" in response.json()["detail"]
    assert_nothing_stored(media_root)


def test_label_is_required(api):
    response = api.post(reverse("api-uploads"), {"label": "  "}, format="json")
    assert response.status_code == 400 and "label" in response.json()["detail"]


def test_discarding_an_upload_removes_its_files(api, tmp_path, media_root):
    files = series_files(tmp_path, slices=1)
    session = uc.start(api, "discard")
    uc.send_missing(api, session, files)
    assert [p for p in (media_root / "uploads").rglob("*") if p.is_file()]
    assert api.delete(reverse("api-upload", args=[session["id"]])).status_code == 204
    assert not [p for p in (media_root / "uploads").rglob("*") if p.is_file()]


def test_purge_removes_abandoned_uploads_only(api, tmp_path, media_root):
    from datetime import timedelta

    from django.core.management import call_command
    from django.utils import timezone

    files = series_files(tmp_path, slices=1)
    old, fresh = uc.start(api, "old"), uc.start(api, "fresh")
    uc.send_missing(api, old, files)
    uc.send_missing(api, fresh, files)
    UploadSession.objects.filter(public_id=old["id"]).update(
        updated_at=timezone.now() - timedelta(days=4)
    )
    call_command("purge_uploads", "--hours", "72")
    assert list(UploadSession.objects.values_list("label", flat=True)) == ["fresh"]
    left = [p for p in (media_root / "uploads").rglob("*") if p.is_file()]
    assert left and all(old["id"] not in str(p) for p in left)


def test_a_chunk_cut_short_in_storage_counts_as_missing(api, tmp_path):
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from reader_study.models import UploadFile
    from reader_study.uploads.chunks import chunk_name

    files = series_files(tmp_path, slices=1)
    session = uc.start(api, "crash")
    uc.announce(api, session, files)
    upload_file = UploadFile.objects.get()
    default_storage.save(chunk_name(upload_file, 0), ContentFile(b"half a chunk"))
    assert uc.announce(api, session, files).json()["files"][0]["received"] == []


def test_a_chunk_removed_while_the_status_is_read_is_not_an_error(api, tmp_path, monkeypatch):
    """A last chunk's arrival examines the whole file and removes its chunks; a status read
    that listed them a moment before must not fail."""
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from reader_study.models import UploadFile
    from reader_study.uploads import chunks

    files = series_files(tmp_path, slices=1)
    session = uc.start(api, "race")
    uc.announce(api, session, files)
    upload_file = UploadFile.objects.get()
    whole = files[0][1][: chunks.expected_length(upload_file, 0)]
    default_storage.save(chunks.chunk_name(upload_file, 0), ContentFile(whole))
    listed = chunks._stored_names

    def listed_then_removed(f):
        names = listed(f)
        default_storage.delete(chunks.chunk_name(f, 0))  # the arrival wins the race here
        return names

    monkeypatch.setattr(chunks, "_stored_names", listed_then_removed)
    response = uc.announce(api, session, files)
    assert response.status_code == 200, response.content
    assert response.json()["files"][0]["received"] == []
