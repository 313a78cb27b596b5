"""STOW-RS: POST /dicomweb/studies[/{study}] with multipart/related; type="application/dicom".

The API twin of the upload page: the same ingest (checks, de-identification, one
case per request, named by `?label=`), answered the DICOM way. Stored instances
are listed in ReferencedSOPSequence under their new, de-identified UIDs (with
WarningReason B000, "coercion of data elements", because de-identification changed
them); refused ones in FailedSOPSequence with their FailureReason. The
human-readable reasons travel in Warning headers.
"""

from __future__ import annotations

import json
import tempfile
import warnings
from pathlib import Path

import pydicom
from django.http import HttpResponse
from django.utils import timezone
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from reader_study.dicomweb import lookup
from reader_study.dicomweb.base import DicomWebView
from reader_study.dicomweb.multipart import (
    BadMultipart,
    LengthRequired,
    Part,
    TooLarge,
    body_stream,
    boundary_of,
    split,
    spool,
)
from reader_study.dicomweb.qido import DICOM_JSON
from reader_study.ingest.deid import case_key, map_uid
from reader_study.ingest.limits import current, over_size
from reader_study.ingest.report import ACCEPTED, DUPLICATE, FileResult, IngestError, SourceFile
from reader_study.ingest.service import MAX_LABEL, ingest
from reader_study.inputs import BadInput, clean_text

PROCESSING_FAILURE = 0x0110
DATASET_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
COERCION = 0xB000
MAX_WARNING_HEADERS = 20


def _plain(status: int, message: str) -> HttpResponse:
    body = json.dumps({"detail": message})
    return HttpResponse(body, status=status, content_type="application/json")


class PartInfo:
    """The client's own UIDs of one part, read before ingest to answer per instance."""

    def __init__(self, number: int, part: Part):
        self.name = f"part {number}"
        self.part = part
        self.sop_class = self.sop_instance = self.study = self.series = ""
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(
                    part.path,
                    stop_before_pixels=True,
                    specific_tags=[
                        "SOPClassUID",
                        "SOPInstanceUID",
                        "StudyInstanceUID",
                        "SeriesInstanceUID",
                    ],
                )
            self.sop_class = str(ds.get("SOPClassUID", "") or "")
            self.sop_instance = str(ds.get("SOPInstanceUID", "") or "")
            self.study = str(ds.get("StudyInstanceUID", "") or "")
            self.series = str(ds.get("SeriesInstanceUID", "") or "")
        except Exception:  # unreadable parts are reported by ingest's own checks
            pass


class Store(DicomWebView):
    def post(self, request, study_uid: str | None = None):
        content_type = request.headers.get("Content-Type", "")
        if not content_type.lower().startswith("multipart/related"):
            return _plain(415, 'Content-Type must be multipart/related; type="application/dicom"')
        if 'type="application/dicom+' in content_type.lower():
            return _plain(415, "only application/dicom parts are accepted (no metadata+bulkdata)")
        try:  # the case label becomes PatientName: checked before any byte is read
            clean_text(request.query_params.get("label", ""), "label", max_length=MAX_LABEL)
        except BadInput as exc:
            return _plain(400, str(exc))
        limits = current()
        length = int(request.headers.get("Content-Length") or 0)
        if length > limits.max_upload_bytes:
            return _plain(413, over_size("the request", length, limits))
        with tempfile.TemporaryDirectory(prefix="ldct-stow-") as workdir:
            try:
                body = Path(workdir) / "body"
                spool(body_stream(request._request), body, limits.max_upload_bytes)
                parts = split(body, boundary_of(content_type), Path(workdir))
            except TooLarge as exc:
                return _plain(413, over_size("the request", exc.args[0], limits))
            except LengthRequired as exc:
                return _plain(411, str(exc))
            except BadMultipart as exc:
                return _plain(400, f"malformed multipart body: {exc}")
            if not parts:
                return _plain(400, "empty upload: the body holds no parts")
            body.unlink()
            return self._store(request, parts, study_uid)

    def _store(self, request, parts: list[Part], study_uid: str | None) -> HttpResponse:
        infos = [PartInfo(n, part) for n, part in enumerate(parts, start=1)]
        failed: list[tuple[PartInfo, FileResult]] = []
        sources = []
        for info in infos:
            kind = info.part.content_type.split(";")[0].strip().lower()
            if kind != "application/dicom":
                failed.append(
                    (
                        info,
                        FileResult(info.name, "rejected", f"part type {kind}", CANNOT_UNDERSTAND),
                    )
                )
            elif study_uid and info.study and info.study != study_uid:
                reason = f"StudyInstanceUID {info.study} is not the study {study_uid} of the URL"
                failed.append((info, FileResult(info.name, "rejected", reason, DATASET_MISMATCH)))
            else:
                sources.append(SourceFile(info.name, info.part.path, info.part.size))
        label = request.query_params.get("label") or f"STOW {timezone.now():%Y-%m-%d %H:%M}"
        strict = request.query_params.get("strict", "").lower() in ("1", "true", "yes")
        by_name = {info.name: info for info in infos}
        if not sources:
            return self._response(request, [], failed, status=409)
        try:
            report = ingest(owner=request.user, label=label, sources=sources, strict=strict)
        except IngestError as exc:
            if exc.status in (400, 413) and not exc.report.files:
                return _plain(exc.status, exc.report.message)
            for info in infos:
                if info.name in {s.name for s in sources}:
                    result = next((r for r in exc.report.files if r.name == info.name), None)
                    failed.append(
                        (
                            info,
                            result
                            or FileResult(
                                info.name, "rejected", exc.report.message, PROCESSING_FAILURE
                            ),
                        )
                    )
            return self._response(request, [], failed, status=409, message=exc.report.message)
        stored = []
        for result in report.files:
            info = by_name.get(result.name)
            if info is None:
                continue
            if result.status in (ACCEPTED, DUPLICATE):
                stored.append(info)
            else:
                failed.append((info, result))
        status = 200 if not failed else 202
        return self._response(request, stored, failed, status=status, case=report.case)

    def _response(self, request, stored, failed, *, status: int, case=None, message: str = ""):
        ds = Dataset()
        if case:
            ds.RetrieveURL = lookup.study_url(request, case["study_instance_uid"])
        if stored:
            ds.ReferencedSOPSequence = Sequence(
                [self._stored_item(request, i, case) for i in stored]
            )
        if failed:
            ds.FailedSOPSequence = Sequence([self._failed_item(i, r) for i, r in failed])
        response = HttpResponse(
            json.dumps(ds.to_json_dict()), status=status, content_type=DICOM_JSON
        )
        notes = ([message] if message else []) + [
            f"{info.name} ({info.sop_instance or 'no SOPInstanceUID'}): {result.reason}"
            for info, result in failed
        ]
        if notes:  # one header, a list of warn-values (RFC 7234 5.5)
            response["Warning"] = ", ".join(
                f'299 ldct "{_header_safe(note)}"' for note in notes[:MAX_WARNING_HEADERS]
            )
        return response

    def _stored_item(self, request, info: PartInfo, case) -> Dataset:
        key = case_key(request.user, info.study, info.series)
        sop = map_uid(key, info.sop_instance)
        series = map_uid(key, info.series)
        item = Dataset()
        item.ReferencedSOPClassUID = info.sop_class
        item.ReferencedSOPInstanceUID = sop
        item.RetrieveURL = lookup.study_url(request, case["study_instance_uid"], series, sop)
        item.WarningReason = COERCION
        return item

    def _failed_item(self, info: PartInfo, result: FileResult) -> Dataset:
        item = Dataset()
        item.ReferencedSOPClassUID = info.sop_class
        item.ReferencedSOPInstanceUID = info.sop_instance
        item.FailureReason = result.code or PROCESSING_FAILURE
        return item


def _header_safe(text: str) -> str:
    return "".join(
        c if 32 <= ord(c) < 127 and c != '"' else "'" if c == '"' else " " for c in text
    )[:500]
