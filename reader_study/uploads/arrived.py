"""A file's last chunk is in: check and de-identify it now, while other files still arrive.

The work is `ingest.arrival.examine`; this module decides when a file is whole, keeps the
verdict on its UploadFile row and drops the identified chunks once the de-identified copy
is stored. Any unexpected failure here leaves the chunks in place, so ingest does the work
itself: the stored chunk is never lost over it.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

from django.core.files.storage import default_storage

from reader_study.durability import redoable_commit
from reader_study.ingest.arrival import examine
from reader_study.ingest.limits import current
from reader_study.ingest.report import SourceFile
from reader_study.ingest.zips import EMPTY_ZIP_MAGIC, ZIP_MAGIC
from reader_study.models import UploadFile, UploadSession
from reader_study.uploads import chunks

log = logging.getLogger(__name__)
DEIDENTIFIED = "deidentified.dcm"


def receive(upload_file: UploadFile, owner, index: int, data: bytes) -> dict | None:
    """Keeps one checked chunk; returns the file's verdict when this chunk completed it.

    A file of one chunk is examined straight from memory, so its identified original
    never reaches storage; its bytes are stored as a chunk only if that fails.
    """
    try:
        if upload_file.chunk_count == 1:
            source = SourceFile(upload_file.name, None, upload_file.size_bytes, data=data)
            verdict = _safely(_examine, upload_file, owner, source, data[:4])
            if verdict is None:
                chunks.store(upload_file, index, data)
            return verdict
        chunks.store(upload_file, index, data)
        return _safely(_examine_if_whole, upload_file, owner)
    except UploadClosed:
        chunks.discard_chunks(upload_file)  # ingested or discarded meanwhile: keep nothing
        return None


class UploadClosed(Exception):
    """The upload was ingested or discarded while this file was being examined."""


def _safely(examine_step, upload_file: UploadFile, *args) -> dict | None:
    try:
        return examine_step(upload_file, *args)
    except UploadClosed:
        raise
    except Exception:
        # E.g. a parallel last chunk won the race and removed the chunks. Nothing is lost:
        # what could not be examined here, ingest examines itself.
        log.warning("could not examine %s on arrival; ingest will", upload_file, exc_info=True)
        return None


def _examine_if_whole(upload_file: UploadFile, owner) -> dict | None:
    if not chunks.refresh_received(upload_file).is_complete:
        return None
    with tempfile.TemporaryDirectory(prefix="ldct-arrival-") as workdir:
        source = chunks.assemble(upload_file, Path(workdir))
        with open(source.path, "rb") as fh:
            head = fh.read(4)
        return _examine(upload_file, owner, source, head)


def _examine(upload_file: UploadFile, owner, source: SourceFile, head: bytes) -> dict | None:
    if head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
        return None  # archives are opened at ingest, with the whole upload's limits
    session = upload_file.session
    verdict = examine(
        source,
        owner=owner,
        label=session.label,
        limits=current(),
        store_as=f"{chunks.chunk_folder(upload_file)}/{DEIDENTIFIED}",
    )
    with redoable_commit():  # a lost verdict only makes the browser send the file again
        still_open = UploadFile.objects.filter(
            pk=upload_file.pk, session__status=UploadSession.Status.OPEN
        ).update(verdict=verdict)
    if not still_open:
        if verdict.get("stored"):
            default_storage.delete(verdict["stored"])
        raise UploadClosed(str(upload_file))
    upload_file.verdict = verdict
    chunks.discard_chunks(upload_file)  # the identified original is not kept
    return verdict


def public(verdict: dict | None) -> dict | None:
    """What the browser may see of a verdict: the outcome and the reason, no internals."""
    if verdict is None:
        return None
    return {"status": verdict["status"], "reason": verdict.get("reason", "")}
