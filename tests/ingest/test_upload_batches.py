"""Batches: several whole small files in one request, each checked as if sent alone."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reader_study.access import RESEARCHER
from reader_study.models import Instance, UploadFile
from tests.conftest import make_user
from tests.ingest import upload_client as uc
from tests.ingest.dicom_files import as_bytes, shipped, write_ct_series

pytestmark = pytest.mark.django_db
CT = as_bytes(shipped("CT_small.dcm"))


@pytest.fixture
def api(researcher, token_client):
    return token_client(researcher)


def small_series(tmp_path, slices=4):
    paths = write_ct_series(tmp_path / "s", slices=slices, size=64)
    return [(f"scan/{p.name}", p.read_bytes()) for p in paths]


def announced(api, label, files):
    session = uc.start(api, label)
    infos = uc.announce(api, session, files).json()["files"]
    return session, infos


def test_a_batch_of_small_files_makes_a_case_with_per_file_checks(api, tmp_path):
    files = [*small_series(tmp_path), ("mr.dcm", shipped("MR_small.dcm").read_bytes())]
    session, infos = announced(api, "batched", files)
    response = uc.put_batch(api, session["id"], infos, [data for _, data in files])
    assert response.status_code == 200, response.content
    checks = {r["file"]: r["check"] for r in response.json()["files"]}
    assert [checks[i["id"]]["status"] for i in infos] == ["accepted"] * 4 + ["rejected"]
    assert "modality MR" in checks[infos[-1]["id"]]["reason"]
    detail = api.get(reverse("api-upload", args=[session["id"]])).json()
    assert all(f["received"] == [0] for f in detail["files"])  # nothing left to send
    assert uc.finish(api, session).status_code == 201
    assert Instance.objects.count() == 4


def test_bad_batches_are_refused_naming_the_problem_and_store_nothing(api, tmp_path, settings):
    files = small_series(tmp_path, slices=2)
    session, infos = announced(api, "bad", files)
    datas = [data for _, data in files]
    url = reverse("api-upload-batch", args=[session["id"]])

    short = uc.put_batch(api, session["id"], infos, [datas[0], datas[1][:-1]])
    assert short.status_code == 400 and "expected" in short.json()["detail"]
    forged = api.put(
        f"{url}?files={infos[0]['id']},{infos[1]['id']}",
        data=b"".join(datas),
        content_type="application/octet-stream",
        HTTP_CONTENT_DIGEST="sha-256=:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=:",
    )
    assert forged.status_code == 400 and "Content-Digest" in forged.json()["detail"]
    for unknown_id in ("999999", "-1", "99999999999999999999999"):
        unknown = api.put(
            f"{url}?files={unknown_id}", data=b"x", content_type="application/octet-stream"
        )
        assert unknown.status_code == 404 and unknown_id in unknown.json()["detail"]
    long = uc.put_batch(api, session["id"], infos, [datas[0], datas[1] + b"x"])
    assert long.status_code == 400 and "expected" in long.json()["detail"]
    for query in ("", "?files=a,b", f"?files={infos[0]['id']},{infos[0]['id']}"):
        bad = api.put(url + query, data=b"x", content_type="application/octet-stream")
        assert bad.status_code == 400, query
    assert all(f.verdict is None for f in UploadFile.objects.all())
    assert all(info["received"] == [] for info in uc.announce(api, session, files).json()["files"])

    # A file of several chunks goes chunk by chunk, not in a batch.
    settings.LDCT_UPLOAD_CHUNK_BYTES = 4096
    big = [("big.dcm", datas[0])]
    session, infos = announced(api, "big", big)
    refused = uc.put_batch(api, session["id"], infos, [datas[0]])
    assert refused.status_code == 400 and "big.dcm" in refused.json()["detail"]


def test_a_batch_larger_than_a_chunk_is_413(api, tmp_path, settings):
    settings.LDCT_UPLOAD_CHUNK_BYTES = 16 * 1024
    files = small_series(tmp_path, slices=3)  # ~9 KB each: one chunk each, 3 > 16 KiB
    session, infos = announced(api, "large", files)
    response = uc.put_batch(api, session["id"], infos, [data for _, data in files])
    assert response.status_code == 413 and "more than one chunk" in response.json()["detail"]


def test_nobody_else_can_send_to_an_upload(api, tmp_path, token_client):
    files = small_series(tmp_path, slices=1)
    session, infos = announced(api, "mine", files)
    other = token_client(make_user("other", RESEARCHER))
    response = uc.put_batch(other, session["id"], infos, [files[0][1]])
    assert response.status_code == 404
    assert UploadFile.objects.get().verdict is None


def test_a_batch_takes_only_files_of_its_own_upload_and_only_while_open(api, tmp_path):
    files = small_series(tmp_path, slices=1)
    first, first_infos = announced(api, "first", files)
    second, _ = announced(api, "second", files)
    # The caller's own file, named through another of their uploads: not found there.
    crossed = uc.put_batch(api, second["id"], first_infos, [files[0][1]])
    assert crossed.status_code == 404 and str(first_infos[0]["id"]) in crossed.json()["detail"]
    assert uc.put_batch(api, first["id"], first_infos, [files[0][1]]).status_code == 200
    assert uc.finish(api, first).status_code == 201
    late = uc.put_batch(api, first["id"], first_infos, [files[0][1]])
    assert late.status_code == 409 and "finished" in late.json()["detail"]


FUZZ = settings(
    max_examples=40,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@FUZZ
@given(
    query=st.lists(
        st.integers(-(2**70), 2**70).map(str)
        | st.just("x")
        | st.text(alphabet="0123456789,- ", max_size=6),
        max_size=4,
    ).map(",".join),
    body=st.binary(max_size=2048) | st.just(CT),
)
def test_any_batch_request_is_answered_without_a_500(api, query, body):
    """Ids of this upload and others, damaged lists, any bytes: an answer, never a 500."""
    session = uc.start(api, "fuzz")
    names = [("a.dcm", CT), ("b.dcm", b"x" * 100)]
    infos = uc.announce(api, session, names).json()["files"]
    ids = [str(info["id"]) for info in infos]
    query = query.replace("x", ids[0])
    response = api.put(
        reverse("api-upload-batch", args=[session["id"]]) + f"?files={query}",
        data=body,
        content_type="application/octet-stream",
    )
    assert response.status_code in (200, 400, 404, 413), response.content
    if response.status_code == 200:
        assert len(response.json()["files"]) == len(query.split(","))
