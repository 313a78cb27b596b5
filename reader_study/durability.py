"""Writes that may skip waiting for the disk: losing them to a power cut costs only redoing work.

By default every commit waits until the database has flushed it to disk (SQLite
`synchronous=FULL`, PostgreSQL `synchronous_commit=on`), about 1.6 ms on this machine's disk.
Some rows are caches of work that can be redone, like the verdict on an uploaded file: if a
power cut loses the verdict, the file counts as not received and the browser sends it again.
For those, and only those, the commit does not wait. A crash of the process loses nothing
either way; only the operating system going down can lose such a commit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction

from ldct_web.env import SQLITE_SYNCHRONOUS


@contextmanager
def redoable_commit() -> Iterator[None]:
    """Runs the block as one commit that does not wait for the disk flush."""
    if connection.in_atomic_block:
        yield  # part of a larger transaction, whose commit decides
        return
    if connection.vendor == "postgresql":
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL synchronous_commit TO OFF")
            yield
        return
    if connection.vendor != "sqlite":
        yield
        return
    # SQLite changes the safety level only outside a transaction, for the connection.
    with connection.cursor() as cursor:
        cursor.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"PRAGMA synchronous={SQLITE_SYNCHRONOUS}")
