"""Instance files in Django's storage (local folder or S3), with checksums and cleanup.

A database rollback cannot take back a file written to storage, so every file an
ingest writes is remembered and deleted again if the ingest does not commit.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import FileSystemStorage, default_storage

log = logging.getLogger(__name__)


class WrittenFiles:
    """Names written during one ingest; `discard()` deletes them all (or moves them back)."""

    def __init__(self) -> None:
        self.names: list[str] = []
        self.moved: list[tuple[str, str]] = []  # (new name, old name)

    def save(self, name: str, data: bytes) -> tuple[str, str]:
        """Stores `data` under `name` (or a free variant); returns (stored name, sha256)."""
        stored = default_storage.save(name, ContentFile(data))
        self.names.append(stored)
        return stored, hashlib.sha256(data).hexdigest()

    def adopt(self, source: str, name: str) -> str:
        """Moves the stored object `source` to `name` (or a free variant); returns the name."""
        stored = move(source, name)
        self.moved.append((stored, source))
        return stored

    def discard(self) -> None:
        for name in self.names:
            with contextlib.suppress(Exception):  # best effort: log, never mask the cause
                default_storage.delete(name)
                continue
            log.warning("could not delete %s after a failed ingest", name)
        self.names.clear()
        for stored, source in reversed(self.moved):  # the upload keeps its files for a retry
            with contextlib.suppress(Exception):
                move(stored, source)
                continue
            log.warning("could not move %s back to %s after a failed ingest", stored, source)
        self.moved.clear()


def move(source: str, name: str) -> str:
    """Renames within a local folder (no copy); other storages copy, then delete."""
    name = default_storage.get_available_name(name)
    if isinstance(default_storage, FileSystemStorage):
        target = Path(default_storage.path(name))
        target.parent.mkdir(parents=True, exist_ok=True)
        os.replace(default_storage.path(source), target)
        return name
    with default_storage.open(source, "rb") as fh:
        stored = default_storage.save(name, fh)
    default_storage.delete(source)
    return stored


def sha256_of(name: str) -> str:
    digest = hashlib.sha256()
    with default_storage.open(name, "rb") as fh:
        while block := fh.read(1024 * 1024):
            digest.update(block)
    return digest.hexdigest()
