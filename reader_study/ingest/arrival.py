"""Check and de-identify one file as soon as it has arrived, before the upload is ingested.

Ingest used to do all the per-file work (parse, check, decode, de-identify, encode, store:
about 10 ms a 512x512 file) in one request after the last byte. Done as each file arrives,
that work spreads over the parallel upload requests, and the final ingest only moves
de-identified files into place and writes the rows. The result is a *verdict*, a JSON dict
kept with the upload:

    {"status": "rejected", "reason": ..., "code": ...}
    {"status": "accepted", "stored": <storage name of the de-identified bytes>, "key", "label",
     "sha256", "size", "sop_instance_uid", "sop_class_uid", "transfer_syntax_uid",
     "facts": <the Checked facts of the original, for grouping and deduplication>}

A file is de-identified with the case key of its own study and series; ingest uses the
stored bytes only when that key and the label are those of the case it creates, and does
the work itself otherwise.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import fields

from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from reader_study.ingest.deid import DeidentificationFailed, case_key, deidentify
from reader_study.ingest.limits import Limits
from reader_study.ingest.report import SourceFile
from reader_study.ingest.validate import CANNOT_UNDERSTAND, Checked, Rejected, check

ACCEPTED = "accepted"
REJECTED = "rejected"
_NOT_FACTS = ("source", "dataset")


def examine(source: SourceFile, *, owner, label: str, limits: Limits, store_as: str) -> dict:
    """The verdict on one file; an accepted file's de-identified bytes go to `store_as`."""
    try:
        checked = check(source, limits, keep_dataset=True)
    except Rejected as exc:
        return {"status": REJECTED, "reason": str(exc), "code": exc.code}
    key = case_key(owner, checked.study_instance_uid, checked.series_instance_uid)
    ds, checked.dataset = checked.dataset, None
    try:
        deidentify(ds, case_key=key, label=label)
    except DeidentificationFailed as exc:
        return {"status": REJECTED, "reason": str(exc), "code": CANNOT_UNDERSTAND}
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    return {
        "status": ACCEPTED,
        "stored": default_storage.save(store_as, ContentFile(data)),
        "key": key,
        "label": label,
        "sha256": hashlib.sha256(data).hexdigest(),
        "size": len(data),
        "sop_instance_uid": str(ds.SOPInstanceUID),
        "sop_class_uid": str(ds.SOPClassUID),
        "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID),
        "facts": {
            f.name: getattr(checked, f.name) for f in fields(checked) if f.name not in _NOT_FACTS
        },
    }


def checked_from(source: SourceFile) -> Checked:
    """The Checked facts of an accepted verdict (JSON turned tuples into lists)."""
    facts = dict(source.verdict["facts"])
    if facts.get("orientation") is not None:
        facts["orientation"] = tuple(facts["orientation"])
    facts["positions"] = [tuple(p) for p in facts.get("positions") or []]
    return Checked(source=source, **facts)


def usable(item: Checked, key: str, label: str) -> bool:
    """Were the stored bytes de-identified for exactly this case?"""
    verdict = item.source.verdict or {}
    return (
        verdict.get("status") == ACCEPTED
        and verdict.get("key") == key
        and verdict.get("label") == label
    )
