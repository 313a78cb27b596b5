"""Chunks in Django storage, so any web process (or machine) can take the next one.

A chunk is stored as its own object (`uploads/<session>/<file>/<index>`): the
storage API has no append, and S3 has none either. At ingest the chunks of a
file are joined into a local temporary file.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import re
import shutil
from pathlib import Path

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction

from reader_study.ingest.report import SourceFile
from reader_study.models import UploadFile, UploadSession

DIGEST = re.compile(r"sha-256=:([A-Za-z0-9+/=]+):")


class ChunkProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def chunk_name(upload_file: UploadFile, index: int) -> str:
    return f"uploads/{upload_file.session.public_id}/{upload_file.pk}/{index:06d}"


def expected_length(upload_file: UploadFile, index: int) -> int:
    start = index * upload_file.chunk_bytes
    return min(upload_file.chunk_bytes, upload_file.size_bytes - start)


def check_digest(header: str | None, data: bytes, where: str) -> None:
    """Checks an RFC 9530 `Content-Digest: sha-256=:...:` header when the client sent one."""
    if not header:
        return
    match = DIGEST.search(header)
    if not match:
        return  # other algorithms are allowed by the RFC; we only verify sha-256
    if base64.b64decode(match.group(1)) != hashlib.sha256(data).digest():
        raise ChunkProblem(400, f"{where}: the bytes do not match their Content-Digest; resend")


def receive(upload_file: UploadFile, index: int, stream, digest_header: str | None) -> UploadFile:
    where = f"{upload_file.name}, chunk {index}"
    if not 0 <= index < upload_file.chunk_count:
        raise ChunkProblem(
            400, f"{where}: no such chunk (the file has {upload_file.chunk_count} chunks)"
        )
    expected = expected_length(upload_file, index)
    data = stream.read(expected + 1)
    if len(data) != expected:
        raise ChunkProblem(400, f"{where}: expected {expected} bytes, received {len(data)}")
    check_digest(digest_header, data, where)
    name = chunk_name(upload_file, index)
    default_storage.delete(name)  # a resent chunk replaces the old one
    default_storage.save(name, ContentFile(data))
    with transaction.atomic():
        locked = UploadFile.objects.select_for_update().get(pk=upload_file.pk)
        if index not in locked.received:
            locked.received = sorted([*locked.received, index])
            locked.save(update_fields=["received"])
    return locked


def assemble(upload_file: UploadFile, workdir: Path) -> SourceFile:
    target = workdir / f"file-{upload_file.pk}"
    with open(target, "wb") as out:
        for index in range(upload_file.chunk_count):
            with default_storage.open(chunk_name(upload_file, index), "rb") as chunk:
                shutil.copyfileobj(chunk, out, 1024 * 1024)
    return SourceFile(upload_file.name, target, upload_file.size_bytes)


def discard_file(upload_file: UploadFile) -> None:
    for index in upload_file.received:
        with contextlib.suppress(Exception):
            default_storage.delete(chunk_name(upload_file, index))


def discard_session(session: UploadSession) -> None:
    for upload_file in session.files.all():
        discard_file(upload_file)
