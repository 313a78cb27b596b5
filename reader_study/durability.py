"""Writes that may skip waiting for the disk: losing them to a power cut costs only redoing work.

By default every commit waits until the database has flushed it to disk (SQLite
`synchronous=FULL`, PostgreSQL `synchronous_commit=on`), about 1.6 ms on this machine's disk.
Some rows are caches of work that can be redone, like the verdict on an uploaded file: if a
crash loses the verdict, the file counts as not received and the browser sends it again.
For those, and only those, the commit does not wait. What can lose such a commit: on
SQLite the operating system going down (a crash of our process loses nothing), on
PostgreSQL also a crash of the database server.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import connection, transaction


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
        cursor.execute("PRAGMA synchronous")
        level = cursor.fetchone()[0]
        cursor.execute("PRAGMA synchronous=NORMAL")
    try:
        yield
    finally:
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"PRAGMA synchronous={int(level)}")
        except Exception:
            # A connection left at NORMAL must not serve later requests (it is persistent).
            connection.close()
            raise
