"""Files are checked and de-identified as they arrive; ingest then only moves them in place."""

from __future__ import annotations

import pydicom
import pytest
from django.urls import reverse

from reader_study.ingest import service
from reader_study.models import Case, Instance, UploadFile
from tests.ingest import upload_client as uc
from tests.ingest.conftest import sources
from tests.ingest.dicom_files import as_bytes, edit, shipped, write_ct_series

pytestmark = pytest.mark.django_db

IDENTIFIERS = (b"DOE^JANE", b"MRN-0042")


@pytest.fixture
def api(researcher, token_client):
    return token_client(researcher)


def series_files(tmp_path, slices=4, size=192, seed=0):
    paths = write_ct_series(tmp_path / f"s{seed}", slices=slices, size=size, seed=seed)
    return [(f"scan/{p.name}", p.read_bytes()) for p in paths]


def upload_files(media_root):
    return [p for p in (media_root / "uploads").rglob("*") if p.is_file()]


@pytest.mark.parametrize("chunk_bytes", [64 * 1024, 8 * 1024 * 1024], ids=["chunks", "one"])
def test_files_are_deidentified_on_arrival_and_originals_not_kept(
    api, tmp_path, media_root, settings, chunk_bytes
):
    settings.LDCT_UPLOAD_CHUNK_BYTES = chunk_bytes
    files = series_files(tmp_path)
    session = uc.start(api, "arrival")
    uc.send_missing(api, session, files)
    listed = api.get(reverse("api-upload", args=[session["id"]])).json()["files"]
    assert [f["check"] for f in listed] == [{"status": "accepted", "reason": ""}] * 4
    assert all(f["received"] == list(range(f["chunks"])) for f in listed)
    stored = upload_files(media_root)
    assert len(stored) == 4 and all(p.name == "deidentified.dcm" for p in stored)
    for path in stored:  # no identified original waits on disk for the ingest
        data = path.read_bytes()
        assert not any(identifier in data for identifier in IDENTIFIERS)
        assert pydicom.dcmread(path).PatientName == "arrival"

    response = uc.finish(api, session)
    assert response.status_code == 201, response.content
    assert response.json()["counts"]["accepted"] == 4
    assert not upload_files(media_root)  # moved into the case
    instances = Instance.objects.order_by("slice_position")
    assert instances.count() == 4
    for instance in instances:
        with instance.file.open("rb") as fh:
            ds = pydicom.dcmread(fh)
        assert ds.SOPInstanceUID == instance.sop_instance_uid
        assert ds.PatientIdentityRemoved == "YES"
    assert UploadFile.objects.exclude(verdict=None).count() == 0  # source UIDs not kept


def test_same_case_as_ingesting_the_files_directly(api, tmp_path, researcher, media_root):
    """Arrival is an optimisation: the stored instances are those of the one-step ingest."""
    files = series_files(tmp_path, slices=3)
    assert uc.upload(api, "twice", files).status_code == 201
    uploaded = {i.sop_instance_uid: i.sha256 for i in Instance.objects.all()}
    Case.objects.all().delete()
    paths = sorted((tmp_path / "s0").glob("*.dcm"))
    report = service.ingest(owner=researcher, label="twice", sources=sources(paths))
    assert report.case["created"]
    assert {i.sop_instance_uid: i.sha256 for i in Instance.objects.all()} == uploaded


def test_a_refused_file_is_reported_as_it_arrives(api, tmp_path, settings, media_root):
    settings.LDCT_UPLOAD_CHUNK_BYTES = 64 * 1024
    files = series_files(tmp_path, slices=3)
    mr = edit(tmp_path / "s0" / "CT0001.dcm", tmp_path / "mr.dcm", Modality="MR")
    session = uc.start(api, "mixed")
    info = uc.announce(api, session, [("mr.dcm", mr.read_bytes())]).json()["files"][0]
    answers = [
        uc.put_chunk(api, session["id"], info, mr.read_bytes(), i).json()
        for i in range(info["chunks"])
    ]
    assert [a["check"] for a in answers[:-1]] == [None] * (info["chunks"] - 1)
    assert answers[-1]["check"] == {
        "status": "rejected",
        "reason": "modality MR, only CT is accepted",
    }
    uc.send_missing(api, session, files + [("mr.dcm", mr.read_bytes())])
    report = uc.finish(api, session).json()
    refused = [f for f in report["files"] if f["status"] == "rejected"]
    assert refused == [
        {
            "name": "mr.dcm",
            "status": "rejected",
            "reason": "modality MR, only CT is accepted",
            "code": 0x0122,
        }
    ]
    assert report["counts"]["accepted"] == 3


def test_a_lost_deidentified_copy_is_asked_for_again(api, tmp_path, media_root):
    files = series_files(tmp_path, slices=2)
    session = uc.start(api, "lost")
    uc.send_missing(api, session, files)
    upload_files(media_root)[0].unlink()  # e.g. a storage clean-up ran in between
    response = uc.finish(api, session)
    assert response.status_code == 409 and "1 file(s) are not complete" in response.json()["detail"]
    assert uc.send_missing(api, session, files) == 1  # only that file travels again
    assert uc.finish(api, session).status_code == 201
    assert Instance.objects.count() == 2


def test_a_failed_ingest_gives_the_files_back_for_a_retry(api, tmp_path, media_root, monkeypatch):
    files = series_files(tmp_path, slices=3)
    session = uc.start(api, "retry")
    uc.send_missing(api, session, files)
    before = sorted(p.relative_to(media_root) for p in upload_files(media_root))

    def crash(*args, **kwargs):
        raise RuntimeError("disk full")

    # Fails after the files were moved into the case, inside the transaction.
    monkeypatch.setattr(service, "series_facts", crash)
    with pytest.raises(RuntimeError):
        uc.finish(api, session)
    assert Case.objects.count() == 0 and Instance.objects.count() == 0
    assert not list((media_root / "cases").rglob("*.dcm"))
    assert sorted(p.relative_to(media_root) for p in upload_files(media_root)) == before
    monkeypatch.undo()
    assert uc.finish(api, session).status_code == 201
    assert Instance.objects.count() == 3


def test_a_zip_waits_for_the_ingest(api, tmp_path, media_root):
    import io
    import zipfile

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in series_files(tmp_path, slices=2):
            archive.writestr(name, data)
    session = uc.start(api, "zip")
    info = uc.announce(api, session, [("s.zip", buffer.getvalue())]).json()["files"][0]
    answer = uc.put_chunk(api, session["id"], info, buffer.getvalue(), 0).json()
    assert answer["check"] is None  # archives are opened at ingest, with the upload's limits
    assert uc.finish(api, session).status_code == 201


def test_a_file_from_another_study_is_refused_from_the_series(researcher, tmp_path):
    paths = write_ct_series(tmp_path / "in", slices=4, size=32)
    stray = edit(paths[1], tmp_path / "stray.dcm", StudyInstanceUID="1.2.3.4.5")
    names = ["1", "stray.dcm", "3", "4"]
    report = service.ingest(
        owner=researcher, label="study", sources=sources([paths[0], stray, *paths[2:]], names)
    )
    stray_result = [r for r in report.files if r.name == "stray.dcm"][0]
    assert stray_result.status == "rejected"
    assert stray_result.reason == "StudyInstanceUID differs from the rest of the series"
    assert Instance.objects.count() == 3


def test_shipped_compressed_file_is_examined_on_arrival(api, media_root):
    data = as_bytes(shipped("693_J2KR.dcm"))
    session = uc.start(api, "j2k")
    info = uc.announce(api, session, [("j2k.dcm", data)]).json()["files"][0]
    answer = uc.put_chunk(api, session["id"], info, data, 0).json()
    assert answer["check"] == {"status": "accepted", "reason": ""}
    assert uc.finish(api, session).status_code == 201
    instance = Instance.objects.get()
    assert instance.transfer_syntax_uid == "1.2.840.10008.1.2.4.90"


def test_when_examining_fails_the_chunk_is_kept_and_ingest_does_the_work(
    api, tmp_path, media_root, monkeypatch
):
    from reader_study.uploads import arrived

    def broken(*args, **kwargs):
        raise OSError("storage unavailable")

    monkeypatch.setattr(arrived, "examine", broken)
    files = series_files(tmp_path, slices=2, size=64)  # one chunk each
    session = uc.start(api, "fallback")
    infos = uc.announce(api, session, files).json()["files"]
    for info, (_, data) in zip(infos, files, strict=True):
        answer = uc.put_chunk(api, session["id"], info, data, 0)
        assert answer.status_code == 200 and answer.json()["check"] is None
    assert sorted(p.name for p in upload_files(media_root)) == ["000000", "000000"]
    monkeypatch.undo()
    assert uc.finish(api, session).status_code == 201
    assert Instance.objects.count() == 2 and not upload_files(media_root)


def test_a_refused_file_announced_again_is_sent_and_checked_again(api, tmp_path, media_root):
    series_files(tmp_path, slices=1, size=64)
    mr = edit(tmp_path / "s0" / "CT0001.dcm", tmp_path / "mr.dcm", Modality="MR").read_bytes()
    session = uc.start(api, "fixed")
    uc.send_missing(api, session, [("x.dcm", mr)])
    # The user fixes the file (same name, same size) and drops it again.
    fixed = edit(tmp_path / "mr.dcm", tmp_path / "fixed.dcm", Modality="CT").read_bytes()
    assert len(fixed) == len(mr)
    again = uc.announce(api, session, [("x.dcm", fixed)]).json()["files"][0]
    assert again["received"] == [] and again["check"] is None
    assert uc.send_missing(api, session, [("x.dcm", fixed)]) == 1
    listed = api.get(reverse("api-upload", args=[session["id"]])).json()["files"]
    assert listed[0]["check"] == {"status": "accepted", "reason": ""}


@pytest.mark.parametrize("where", ["assemble", "move"])
def test_a_file_taken_away_during_the_ingest_is_a_clear_409(
    api, tmp_path, media_root, settings, monkeypatch, where
):
    from reader_study.ingest import storage
    from reader_study.uploads import chunks

    def gone(*args, **kwargs):
        raise FileNotFoundError("uploads/x/1/000000")

    files = series_files(tmp_path, slices=2)
    if where == "assemble":  # a chunked file not examined yet, whose chunks then vanish
        settings.LDCT_UPLOAD_CHUNK_BYTES = 64 * 1024
        monkeypatch.setattr("reader_study.uploads.arrived._verdict_if_whole", lambda *a: None)
        monkeypatch.setattr(chunks, "assemble", gone)
        expected = "still being checked, or changed by another request"
    else:  # the de-identified copy vanishes between the check and the move
        monkeypatch.setattr(storage, "move", gone)
        expected = "its checked copy was removed by another request"
    session = uc.start(api, "race")
    uc.send_missing(api, session, files)
    response = uc.finish(api, session)
    assert response.status_code == 409, response.content
    assert "scan/CT000" in response.json()["detail"]
    assert expected in response.json()["detail"]
    assert Case.objects.count() == 0 and Instance.objects.count() == 0


@pytest.mark.parametrize("chunk_bytes", [64 * 1024, 8 * 1024 * 1024], ids=["chunks", "one"])
def test_a_file_completed_after_the_upload_closed_leaves_nothing(
    api, tmp_path, media_root, settings, researcher, chunk_bytes
):
    """The upload was ingested (or discarded) while a file's last bytes were examined:
    neither its identified bytes nor its de-identified copy may stay behind."""
    from reader_study.models import UploadSession
    from reader_study.uploads import arrived

    settings.LDCT_UPLOAD_CHUNK_BYTES = chunk_bytes
    files = series_files(tmp_path, slices=1)
    session = uc.start(api, "late")
    info = uc.announce(api, session, files).json()["files"][0]
    upload_file = UploadFile.objects.select_related("session").get(pk=info["id"])
    data = files[0][1]
    for index in range(info["chunks"] - 1):  # all but the last chunk arrive while open
        assert uc.put_chunk(api, session["id"], info, data, index).status_code == 200
    UploadSession.objects.filter(public_id=session["id"]).update(
        status=UploadSession.Status.INGESTED
    )
    last = info["chunks"] - 1
    size = info["chunk_bytes"]
    assert arrived.receive(upload_file, researcher, last, data[last * size :]) is None
    assert upload_files(media_root) == []
    assert UploadFile.objects.get(pk=info["id"]).verdict is None


def test_a_batch_completed_after_the_upload_closed_leaves_nothing(
    api, tmp_path, media_root, researcher
):
    """The verdicts of a batch are recorded together: closed meanwhile, none is kept and
    no file of the batch leaves bytes behind."""
    from reader_study.models import UploadSession
    from reader_study.uploads import arrived

    files = series_files(tmp_path, slices=3)
    session = uc.start(api, "late batch")
    infos = uc.announce(api, session, files).json()["files"]
    rows = UploadFile.objects.select_related("session").filter(pk__in=[i["id"] for i in infos])
    by_id = {row.pk: row for row in rows}
    UploadSession.objects.filter(public_id=session["id"]).update(
        status=UploadSession.Status.INGESTED
    )
    arrivals = [(by_id[i["id"]], 0, data) for i, (_, data) in zip(infos, files, strict=True)]
    assert arrived.receive_all(arrivals, researcher) == [None, None, None]
    assert upload_files(media_root) == []
    assert not UploadFile.objects.filter(verdict__isnull=False).exists()


def test_a_file_announced_again_during_its_batch_leaves_no_orphan(
    api, tmp_path, media_root, researcher
):
    """Its row went (announced again with other content) while the batch was examined:
    the other files are recorded, its de-identified copy is not left where nothing finds it."""
    from reader_study.uploads import arrived

    files = series_files(tmp_path, slices=3)
    session = uc.start(api, "reannounced")
    infos = uc.announce(api, session, files).json()["files"]
    rows = UploadFile.objects.select_related("session").in_bulk([i["id"] for i in infos])
    arrivals = [(rows[i["id"]], 0, data) for i, (_, data) in zip(infos, files, strict=True)]
    UploadFile.objects.filter(pk=infos[1]["id"]).delete()
    verdicts = arrived.receive_all(arrivals, researcher)
    assert verdicts[1] is None
    assert verdicts[0]["status"] == verdicts[2]["status"] == "accepted"
    kept = {str(p.relative_to(media_root)) for p in upload_files(media_root)}
    assert kept == {verdicts[0]["stored"], verdicts[2]["stored"]}
    assert UploadFile.objects.filter(verdict__isnull=False).count() == 2
