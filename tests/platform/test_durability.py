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


@pytest.mark.django_db(transaction=True)
def test_the_block_does_not_wait_for_the_flush_and_the_rest_does():
    assert _setting() == FLUSHED[connection.vendor]
    with redoable_commit():
        assert _setting() == NOT_WAITED[connection.vendor]
    assert _setting() == FLUSHED[connection.vendor]
    with pytest.raises(RuntimeError), redoable_commit():
        raise RuntimeError("a failing block restores the setting too")
    assert _setting() == FLUSHED[connection.vendor]


@pytest.mark.django_db(transaction=True)
def test_inside_a_larger_transaction_the_outer_commit_decides():
    with transaction.atomic(), redoable_commit():
        assert _setting() == FLUSHED[connection.vendor]
