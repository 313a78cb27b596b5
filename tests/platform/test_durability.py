"""redoable_commit: only the block it wraps skips waiting for the disk flush."""

from __future__ import annotations

import pytest
from django.db import connection, transaction

from reader_study.durability import redoable_commit

SETTING = {"sqlite": "PRAGMA synchronous", "postgresql": "SHOW synchronous_commit"}
# What each database answers: flushed commits by default, not waited for inside the block.
FLUSHED = {"sqlite": (2,), "postgresql": ("on",)}
NOT_WAITED = {"sqlite": (1,), "postgresql": ("off",)}


def _setting():
    with connection.cursor() as cursor:
        cursor.execute(SETTING[connection.vendor])
        return cursor.fetchone()


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_the_block_does_not_wait_for_the_flush_and_the_rest_does():
    assert _setting() == FLUSHED[connection.vendor]
    with redoable_commit():
        assert _setting() == NOT_WAITED[connection.vendor]
    assert _setting() == FLUSHED[connection.vendor]
    with pytest.raises(RuntimeError), redoable_commit():
        raise RuntimeError("a failing block restores the setting too")
    assert _setting() == FLUSHED[connection.vendor]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_inside_a_larger_transaction_the_outer_commit_decides():
    with transaction.atomic(), redoable_commit():
        assert _setting() == FLUSHED[connection.vendor]


@pytest.mark.django_db(transaction=True, serialized_rollback=True)
def test_an_upload_verdict_is_written_without_waiting_for_the_flush(
    researcher, token_client, tmp_path
):
    from django.test.utils import CaptureQueriesContext

    from tests.ingest import upload_client as uc
    from tests.ingest.dicom_files import write_ct_series

    api = token_client(researcher)
    path = write_ct_series(tmp_path, slices=1, size=64)[0]
    session = uc.start(api, "flush")
    info = uc.announce(api, session, [("a.dcm", path.read_bytes())]).json()["files"][0]
    with CaptureQueriesContext(connection) as queries:
        assert uc.put_chunk(api, session["id"], info, path.read_bytes(), 0).status_code == 200
    relax = {"sqlite": "PRAGMA synchronous=NORMAL", "postgresql": "synchronous_commit TO OFF"}
    sql = [q["sql"] for q in queries.captured_queries]
    at = next(i for i, q in enumerate(sql) if relax[connection.vendor] in q)
    assert any("verdict" in q and q.startswith("UPDATE") for q in sql[at:])
    assert _setting() == FLUSHED[connection.vendor]
