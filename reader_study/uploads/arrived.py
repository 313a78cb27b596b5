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
from django.db.models import Case, JSONField, Value, When

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
    """Keeps one checked chunk; returns the file's verdict when this chunk completed it."""
    return receive_all([(upload_file, index, data)], owner)[0]


def receive_all(arrivals: list[tuple[UploadFile, int, bytes]], owner) -> list[dict | None]:
    """Chunks of one upload (a batch carries whole one-chunk files): each file is examined
    on its own, and the verdicts are recorded in one statement (one commit a request)."""
    verdicts = [_arrive(upload_file, owner, index, data) for upload_file, index, data in arrivals]
    try:
        kept = _record([(f, v) for (f, _, _), v in zip(arrivals, verdicts, strict=True) if v])
    except UploadClosed:
        for upload_file, _, _ in arrivals:
            chunks.discard_chunks(upload_file)  # ingested or discarded meanwhile: keep nothing
        return [None] * len(arrivals)
    return [v if f.pk in kept else None for (f, _, _), v in zip(arrivals, verdicts, strict=True)]


def _arrive(upload_file: UploadFile, owner, index: int, data: bytes) -> dict | None:
    """A file of one chunk is examined straight from memory, so its identified original
    never reaches storage; its bytes are stored as a chunk only if that fails."""
    if upload_file.chunk_count == 1:
        source = SourceFile(upload_file.name, None, upload_file.size_bytes, data=data)
        verdict = _safely(_verdict, upload_file, owner, source, data[:4])
        if verdict is None:
            chunks.store(upload_file, index, data)
        return verdict
    chunks.store(upload_file, index, data)
    return _safely(_verdict_if_whole, upload_file, owner)


class UploadClosed(Exception):
    """The upload was ingested or discarded while these files were being examined."""


def _safely(examine_step, upload_file: UploadFile, *args) -> dict | None:
    try:
        return examine_step(upload_file, *args)
    except Exception:
        # E.g. a parallel last chunk won the race and removed the chunks. Nothing is lost:
        # what could not be examined here, ingest examines itself.
        log.warning("could not examine %s on arrival; ingest will", upload_file, exc_info=True)
        return None


def _verdict_if_whole(upload_file: UploadFile, owner) -> dict | None:
    if not chunks.refresh_received(upload_file).is_complete:
        return None
    with tempfile.TemporaryDirectory(prefix="ldct-arrival-") as workdir:
        source = chunks.assemble(upload_file, Path(workdir))
        with open(source.path, "rb") as fh:
            head = fh.read(4)
        return _verdict(upload_file, owner, source, head)


def _verdict(upload_file: UploadFile, owner, source: SourceFile, head: bytes) -> dict | None:
    if head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC):
        return None  # archives are opened at ingest, with the whole upload's limits
    return examine(
        source,
        owner=owner,
        label=upload_file.session.label,
        limits=current(),
        store_as=f"{chunks.chunk_folder(upload_file)}/{DEIDENTIFIED}",
    )


def _record(examined: list[tuple[UploadFile, dict]]) -> set[int]:
    """Keeps the verdicts, unless the upload closed meanwhile (then `UploadClosed`); the
    identified chunks of a file with a verdict go. Returns the ids of the files kept."""
    if not examined:
        return set()
    pks = [f.pk for f, _ in examined]
    verdicts = Case(*(When(pk=f.pk, then=Value(v, JSONField())) for f, v in examined))
    with redoable_commit():  # a lost verdict only makes the browser send the file again
        # One statement: the files of one upload are all recorded or, closed, none is.
        written = UploadFile.objects.filter(
            pk__in=pks, session__status=UploadSession.Status.OPEN
        ).update(verdict=verdicts)
    if written < len(examined):
        # Closed (none written), or a file announced again with other content meanwhile
        # (its row is gone): what was stored for a file without a row is deleted now, as
        # nothing would find it later.
        alive = set(UploadFile.objects.filter(pk__in=pks).values_list("pk", flat=True))
        alive = alive if written else set()
        for upload_file, verdict in examined:
            if upload_file.pk not in alive and verdict.get("stored"):
                default_storage.delete(verdict["stored"])
        if not written:
            raise UploadClosed(", ".join(str(f) for f, _ in examined))
        examined = [(f, v) for f, v in examined if f.pk in alive]
    for upload_file, verdict in examined:
        upload_file.verdict = verdict
        chunks.discard_chunks(upload_file)  # the identified original is not kept
    return {f.pk for f, _ in examined}


def public(verdict: dict | None) -> dict | None:
    """What the browser may see of a verdict: the outcome and the reason, no internals."""
    if verdict is None:
        return None
    return {"status": verdict["status"], "reason": verdict.get("reason", "")}
