"""Instance files in Django's storage (local folder or S3), with checksums and cleanup.

A database rollback cannot take back a file written to storage, so every file an
ingest writes is remembered and deleted again if the ingest does not commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

log = logging.getLogger(__name__)


class WrittenFiles:
    """Names written during one ingest; `discard()` deletes them all."""

    def __init__(self) -> None:
        self.names: list[str] = []

    def save(self, name: str, data: bytes) -> tuple[str, str]:
        """Stores `data` under `name` (or a free variant); returns (stored name, sha256)."""
        stored = default_storage.save(name, ContentFile(data))
        self.names.append(stored)
        return stored, hashlib.sha256(data).hexdigest()

    def discard(self) -> None:
        for name in self.names:
            with contextlib.suppress(Exception):  # best effort: log, never mask the cause
                default_storage.delete(name)
                continue
            log.warning("could not delete %s after a failed ingest", name)
        self.names.clear()


def sha256_of(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
