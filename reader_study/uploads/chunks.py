"""Chunks in Django storage, so any web process (or machine) can take the next one.

A chunk is stored as its own object (`uploads/<session>/<file>/<index>`): the
storage API has no append, and S3 has none either. Storage is also the record of
what arrived: a chunk counts as received when its object exists with the expected
size (a write cut short by a crash does not), so receiving a chunk costs no
database write. When a file is whole, `uploads.arrived` examines and de-identifies it and
its chunks go (a file of one chunk is examined from memory and never stored as a chunk);
chunks that could not be examined then are joined into a local temporary file at ingest.
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

from reader_study.ingest.report import SourceFile
from reader_study.models import UploadFile, UploadSession

# RFC 9530: a Structured Fields dictionary, `algorithm=:base64:` members separated by commas.
DIGEST_MEMBER = re.compile(r"\s*([a-z0-9*_.-]+)\s*=\s*(.*?)\s*")


class ChunkProblem(Exception):
    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status = status


def chunk_folder(upload_file: UploadFile) -> str:
    return f"uploads/{upload_file.session.public_id}/{upload_file.pk}"


def chunk_name(upload_file: UploadFile, index: int) -> str:
    return f"{chunk_folder(upload_file)}/{index:06d}"


def _stored_names(upload_file: UploadFile) -> list[str]:
    try:
        return default_storage.listdir(chunk_folder(upload_file))[1]
    except FileNotFoundError:
        return []


def refresh_received(upload_file: UploadFile) -> UploadFile:
    """Sets `received` from what storage holds (the truth); returns the same object.

    A file examined on arrival is whole (its chunks are gone by then) as long as what the
    verdict stored is still there.
    """
    if upload_file.verdict is not None:
        stored = upload_file.verdict.get("stored")
        if stored is None or default_storage.exists(stored):
            upload_file.received = list(range(upload_file.chunk_count))
            return upload_file
        # Gone (or moved into a case by an ingest running now): the file counts as not
        # received, and the browser sends it again. The row keeps its verdict, which a
        # failed ingest's moved-back copy makes true again.
        upload_file.verdict = None
    received = []
    for name in _stored_names(upload_file):
        if not name.isdigit() or int(name) >= upload_file.chunk_count:
            continue
        index = int(name)
        try:
            stored = default_storage.size(chunk_name(upload_file, index))
        except FileNotFoundError:
            # Listed, then removed by a last chunk's arrival examining the whole file right
            # now: not counted here; the next look finds the file's verdict instead.
            continue
        if stored == expected_length(upload_file, index):
            received.append(index)
    upload_file.received = sorted(received)
    return upload_file


def expected_length(upload_file: UploadFile, index: int) -> int:
    start = index * upload_file.chunk_bytes
    return min(upload_file.chunk_bytes, upload_file.size_bytes - start)


def check_digest(header: str | None, data: bytes, where: str) -> None:
    """Checks an RFC 9530 `Content-Digest: sha-256=:...:` header when the client sent one."""
    if not header:
        return
    expected = _sha256_of_header(header, where)
    if expected != hashlib.sha256(data).digest():
        raise ChunkProblem(400, f"{where}: the bytes do not match their Content-Digest; resend")


def _sha256_of_header(header: str, where: str) -> bytes:
    """The sha-256 digest a Content-Digest header states; ChunkProblem(400) when the header is
    malformed or states none (a digest this server cannot check is not taken as checked)."""
    members = {}
    for part in header.split(","):
        match = DIGEST_MEMBER.fullmatch(part)
        if not match:
            raise ChunkProblem(400, f"{where}: malformed Content-Digest header member {part!r}")
        members[match.group(1).lower()] = match.group(2)
    if "sha-256" not in members:
        raise ChunkProblem(
            400, f"{where}: Content-Digest has no sha-256 value (the only algorithm checked here)"
        )
    value = members["sha-256"]
    try:
        if not (value.startswith(":") and value.endswith(":") and len(value) > 2):
            raise ValueError("not a :byte sequence:")
        digest = base64.b64decode(value[1:-1], validate=True)
    except ValueError:
        digest = b""
    if len(digest) != 32:
        raise ChunkProblem(
            400,
            f"{where}: Content-Digest sha-256 value {value[:60]!r} is not 32 bytes of base64 "
            "between colons (sha-256=:...:)",
        )
    return digest


def read(upload_file: UploadFile, index: int, stream, digest_header: str | None) -> bytes:
    """One chunk's bytes from the request, checked for length and digest (not yet stored)."""
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
    return data


MAX_BATCH_FILES = 64


def batch_files(session: UploadSession, ids: str) -> list[UploadFile]:
    """The files a batch names (`?files=3,4,5`): whole one-chunk files of this upload."""
    try:
        wanted = [int(part) for part in ids.split(",")]
    except ValueError:
        raise ChunkProblem(
            400, "files: a comma-separated list of file ids, e.g. ?files=3,4,5"
        ) from None
    if not 0 < len(wanted) <= MAX_BATCH_FILES or len(set(wanted)) != len(wanted):
        raise ChunkProblem(400, f"files: 1 to {MAX_BATCH_FILES} different file ids per batch")
    # Ids beyond any database integer match no file (SQLite would fail on them in IN ()).
    found = {f.pk: f for f in session.files.filter(pk__in=[p for p in wanted if 0 < p < 2**63])}
    if missing := [str(pk) for pk in wanted if pk not in found]:
        raise ChunkProblem(404, f"files: no file {', '.join(missing)} in this upload")
    files = [found[pk] for pk in wanted]
    for f in files:
        f.session = session
        if f.chunk_count != 1:
            raise ChunkProblem(
                400, f"{f.name}: {f.chunk_count} chunks; a batch carries whole one-chunk files"
            )
    return files


def read_batch(files: list[UploadFile], stream, digest_header: str | None) -> list[bytes]:
    """The batch body (the files' bytes one after the other), checked and split per file."""
    expected, most = sum(f.size_bytes for f in files), max(f.chunk_bytes for f in files)
    if expected > most:
        raise ChunkProblem(413, f"the batch holds {expected} bytes, more than one chunk ({most})")
    data = stream.read(expected + 1)
    if len(data) != expected:
        raise ChunkProblem(
            400, f"batch: expected {expected} bytes (the files' sizes), received {len(data)}"
        )
    check_digest(digest_header, data, "batch")
    parts, offset = [], 0
    for f in files:
        parts.append(data[offset : offset + f.size_bytes])
        offset += f.size_bytes
    return parts


def store(upload_file: UploadFile, index: int, data: bytes) -> None:
    name = chunk_name(upload_file, index)
    default_storage.delete(name)  # a resent chunk replaces the old one
    default_storage.save(name, ContentFile(data))


def assemble(upload_file: UploadFile, workdir: Path) -> SourceFile:
    target = workdir / f"file-{upload_file.pk}"
    with open(target, "wb") as out:
        for index in range(upload_file.chunk_count):
            with default_storage.open(chunk_name(upload_file, index), "rb") as chunk:
                shutil.copyfileobj(chunk, out, 1024 * 1024)
    return SourceFile(upload_file.name, target, upload_file.size_bytes)


def discard_chunks(upload_file: UploadFile) -> None:
    """Deletes the chunks of a file, not what was made from them."""
    for name in _stored_names(upload_file):
        if name.isdigit():
            with contextlib.suppress(Exception):
                default_storage.delete(f"{chunk_folder(upload_file)}/{name}")


def discard_file(upload_file: UploadFile) -> None:
    for name in _stored_names(upload_file):
        with contextlib.suppress(Exception):
            default_storage.delete(f"{chunk_folder(upload_file)}/{name}")


def discard_session(session: UploadSession) -> None:
    for upload_file in session.files.all():
        discard_file(upload_file)
