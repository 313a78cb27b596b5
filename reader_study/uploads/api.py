"""Upload API: the browser's resumable way to a case (STOW-RS is the tools' way).

POST   /api/uploads/                                  start: {label}
GET    /api/uploads/                                  my unfinished uploads (to resume)
GET    /api/uploads/<id>/                             files and the chunks received
DELETE /api/uploads/<id>/                             discard
POST   /api/uploads/<id>/files/                       announce: {files: [{name, size}]}
PUT    /api/uploads/<id>/files/<file>/chunks/<index>  raw bytes (Content-Digest optional)
PUT    /api/uploads/<id>/batch/?files=3,4,5           whole one-chunk files, one after the other
POST   /api/uploads/<id>/ingest/                      {series_instance_uid?, strict?}
"""

from __future__ import annotations

import tempfile
import uuid
from pathlib import Path

from django.db import transaction
from django.shortcuts import get_object_or_404
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    PolymorphicProxySerializer,
    extend_schema,
)
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.parsers import BaseParser
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study.access import CanUseCases
from reader_study.accounts.serializers import ErrorSerializer, id_path_parameter
from reader_study.ingest.limits import current, over_size
from reader_study.ingest.report import IngestError, SourceFile
from reader_study.ingest.service import MAX_LABEL, ingest
from reader_study.inputs import CONTROL_CHARACTERS, BadInput, clean_text
from reader_study.models import UploadFile, UploadSession
from reader_study.server_errors import is_disk_full
from reader_study.uploads import arrived, chunks
from reader_study.uploads import serializers as shapes

MAX_NAME = 500

_UPLOAD = OpenApiParameter(
    "public_id", OpenApiTypes.UUID, OpenApiParameter.PATH, description="The upload."
)
_FINISHED = OpenApiResponse(ErrorSerializer, description="The upload is finished.")
_BYTES = {"application/octet-stream": OpenApiTypes.BINARY}
_DIGEST = OpenApiParameter(
    "Content-Digest",
    str,
    OpenApiParameter.HEADER,
    description="Optional `sha-256=:<base64>:` of the body; a mismatch is refused.",
)


class RawBytes(BaseParser):
    """Claims a chunk's raw body without reading it (the view reads the stream itself).
    Without a parser, a POST here got 415 instead of 405: the CSRF check of a session
    login asks a POST for its form data before the method is checked."""

    media_type = "application/octet-stream"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


def _problem(status_code: int, message: str, **extra) -> Response:
    return Response({"detail": message, **extra}, status=status_code)


def _storage_full_or_raise(exc: OSError, what: str) -> Response:
    """The 507 for a write that found the media disk full; any other OSError is the
    server's own fault and goes on up (a 500)."""
    if not is_disk_full(exc):
        raise exc
    return _problem(
        507,
        f"{what}: not stored, the server's media storage is full (no space left on device). "
        "Nothing of it was kept; send it again once the operator has freed space.",
    )


def _session_of(request: Request, public_id: uuid.UUID) -> UploadSession:
    return get_object_or_404(UploadSession, public_id=public_id, owner=request.user)


def _file_json(upload_file: UploadFile) -> dict:
    return {
        "id": upload_file.pk,
        "name": upload_file.name,
        "size": upload_file.size_bytes,
        "chunk_bytes": upload_file.chunk_bytes,
        "chunks": upload_file.chunk_count,
        "received": upload_file.received,
        "check": arrived.public(upload_file.verdict),
    }


def _session_json(session: UploadSession, with_files: bool = True) -> dict:
    files = [chunks.refresh_received(f) for f in session.files.all()]
    limits = current()
    data = {
        "id": str(session.public_id),
        "label": session.label,
        "status": session.status,
        "created_at": session.created_at.isoformat(),
        "chunk_bytes": limits.chunk_bytes,
        "limits": {"max_upload_bytes": limits.max_upload_bytes, "max_files": limits.max_files},
        "file_count": len(files),
        "bytes_total": sum(f.size_bytes for f in files),
        "bytes_received": sum(sum(chunks.expected_length(f, i) for i in f.received) for f in files),
        "report": session.report,
        "case": session.case_id,
    }
    if with_files:
        data["files"] = [_file_json(f) for f in files]
    return data


@extend_schema(
    methods=["GET"],
    operation_id="uploads_list",
    description="My unfinished uploads (to resume), without their files.",
    responses=shapes.UploadSessionSummarySerializer(many=True),
)
@extend_schema(
    methods=["POST"],
    operation_id="uploads_create",
    request=shapes.UploadSessionInputSerializer,
    responses={201: shapes.UploadSessionSerializer, 400: ErrorSerializer},
)
@api_view(["GET", "POST"])
@permission_classes([CanUseCases])
def sessions(request: Request) -> Response:
    if request.method == "GET":
        open_sessions = UploadSession.objects.filter(
            owner=request.user, status=UploadSession.Status.OPEN
        ).prefetch_related("files")
        return Response([_session_json(s, with_files=False) for s in open_sessions])
    label = request.data.get("label") if isinstance(request.data, dict) else False
    if not isinstance(label, str | None):
        return _problem(400, 'Send a JSON object: {"label": "your own name for the case"}.')
    try:
        label = clean_text(label or "", "label")
    except BadInput as exc:
        return _problem(400, str(exc))
    label = " ".join(label.split())
    if not label:
        return _problem(400, "label: a case label is required (your own name for the case)")
    if len(label) > MAX_LABEL:
        return _problem(400, f"label: at most {MAX_LABEL} characters")
    session = UploadSession.objects.create(public_id=uuid.uuid4(), owner=request.user, label=label)
    return Response(_session_json(session), status=status.HTTP_201_CREATED)


@extend_schema(
    methods=["GET"],
    operation_id="uploads_retrieve",
    parameters=[_UPLOAD],
    description="The upload, its files and the chunks received.",
    responses={200: shapes.UploadSessionSerializer, 404: ErrorSerializer},
)
@extend_schema(
    methods=["DELETE"],
    operation_id="uploads_destroy",
    parameters=[_UPLOAD],
    description="Discard the upload and what it received.",
    responses={204: OpenApiResponse(description="Discarded."), 404: ErrorSerializer},
)
@api_view(["GET", "DELETE"])
@permission_classes([CanUseCases])
def session_detail(request: Request, public_id: uuid.UUID) -> Response:
    session = _session_of(request, public_id)
    if request.method == "DELETE":
        chunks.discard_session(session)
        session.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
    return Response(_session_json(session))


def _still_open(session: UploadSession) -> Response | None:
    if session.status != UploadSession.Status.OPEN:
        return _problem(409, f"this upload is finished ({session.status}); start a new one")
    return None


@extend_schema(
    operation_id="uploads_files_announce",
    parameters=[_UPLOAD],
    request=shapes.AnnounceFilesInputSerializer,
    responses={
        200: shapes.UploadFileListSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        409: _FINISHED,
        413: OpenApiResponse(ErrorSerializer, description="Too many files, or too many bytes."),
    },
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def announce_files(request: Request, public_id: uuid.UUID) -> Response:
    """Registers files (idempotent by name): a resumed upload learns what it still must send."""
    session = _session_of(request, public_id)
    if closed := _still_open(session):
        return closed
    wanted = request.data.get("files") if isinstance(request.data, dict) else None
    if not isinstance(wanted, list) or not wanted:
        return _problem(400, "files: a non-empty list of {name, size} is required")
    limits = current()
    try:
        announced = {_name(item): _size(item) for item in wanted}
    except ValueError as exc:
        return _problem(400, str(exc))
    with transaction.atomic():
        existing = {f.name: f for f in session.files.select_for_update()}
        merged = {name: f.size_bytes for name, f in existing.items()} | announced
        if len(merged) > limits.max_files:
            return _problem(
                413,
                f"{len(merged)} files, more than the limit of {limits.max_files} per case "
                "(LDCT_MAX_FILES_PER_CASE)",
            )
        total = sum(merged.values())
        if total > limits.max_upload_bytes:
            return _problem(413, over_size("the upload", total, limits))
        out = [
            _register(session, existing.get(n), n, s, limits.chunk_bytes)
            for n, s in announced.items()
        ]
        session.save(update_fields=["updated_at"])  # activity: purge_uploads spares it
    return Response({"files": [_file_json(chunks.refresh_received(f)) for f in out]})


def _name(item) -> str:
    name = item.get("name", "") if isinstance(item, dict) else ""
    if not isinstance(name, str):
        raise ValueError("files: each name must be text (the file's path in the upload)")
    if not name or len(name) > MAX_NAME:
        raise ValueError(f"files: each needs a name of 1 to {MAX_NAME} characters")
    if CONTROL_CHARACTERS.search(name):
        raise ValueError(
            f"files: {name.encode('unicode_escape').decode()[:80]}: the name contains control "
            "characters (line breaks, escape codes); rename the file"
        )
    return name


def _size(item) -> int:
    size = item.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise ValueError(f"files: {item.get('name')}: size must be a whole number of bytes")
    return size


def _register(session, existing: UploadFile | None, name: str, size: int, chunk_bytes: int):
    refused = existing is not None and (existing.verdict or {}).get("status") == "rejected"
    if existing is not None and existing.size_bytes == size and not refused:
        return existing  # resume: keep what was received
    if existing is not None:  # other content, or refused (maybe fixed since): start again
        chunks.discard_file(existing)
        existing.delete()
    return UploadFile.objects.create(
        session=session, name=name, size_bytes=size, chunk_bytes=chunk_bytes
    )


@extend_schema(
    operation_id="uploads_chunk_put",
    description="One chunk of a file: the raw bytes.",
    parameters=[
        _UPLOAD,
        id_path_parameter("The file, as announced.", "file_id"),
        OpenApiParameter("index", int, OpenApiParameter.PATH, description="0-based chunk index."),
        _DIGEST,
    ],
    request=_BYTES,
    responses={
        200: shapes.ChunkReceiptSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        409: _FINISHED,
        413: ErrorSerializer,
    },
)
@api_view(["PUT"])
@permission_classes([CanUseCases])
@parser_classes([RawBytes])
def put_chunk(request: Request, public_id: uuid.UUID, file_id: int, index: int) -> Response:
    # One query for the file and its session (this runs once per chunk).
    upload_file = get_object_or_404(
        UploadFile.objects.select_related("session"),
        pk=file_id,
        session__public_id=public_id,
        session__owner=request.user,
    )
    if closed := _still_open(upload_file.session):
        return closed
    try:
        # Read from the request stream: the body is never parsed, never buffered twice.
        data = chunks.read(
            upload_file, index, request._request, request.headers.get("Content-Digest")
        )
    except chunks.ChunkProblem as exc:
        return _problem(exc.status, str(exc))
    try:
        verdict = arrived.receive(upload_file, request.user, index, data)
    except OSError as exc:
        return _storage_full_or_raise(exc, f"{upload_file.name}, chunk {index}")
    return Response(
        {"file": upload_file.pk, "chunk": index, "stored": True, "check": arrived.public(verdict)}
    )


@extend_schema(
    operation_id="uploads_batch_put",
    description="Several whole one-chunk files, their bytes one after the other in the order "
    "of `files`.",
    parameters=[
        _UPLOAD,
        OpenApiParameter(
            "files",
            {"type": "string", "pattern": "^[0-9]+(,[0-9]+)*$"},
            required=True,
            description="Comma-separated file ids, in body order.",
        ),
        _DIGEST,
    ],
    request=_BYTES,
    responses={
        200: shapes.ChunkReceiptListSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        409: _FINISHED,
        413: ErrorSerializer,
    },
)
@api_view(["PUT"])
@permission_classes([CanUseCases])
@parser_classes([RawBytes])
def put_batch(request: Request, public_id: uuid.UUID) -> Response:
    """Several whole small files in one request: a CT series is hundreds of files of half
    a megabyte, and one request each costs more than checking the file. PUT like a chunk:
    the body is raw bytes that nothing parses (a POST would make the CSRF check of a
    session login parse it as a form)."""
    session = _session_of(request, public_id)
    if closed := _still_open(session):
        return closed
    try:
        files = chunks.batch_files(session, request.query_params.get("files", ""))
        parts = chunks.read_batch(files, request._request, request.headers.get("Content-Digest"))
    except chunks.ChunkProblem as exc:
        return _problem(exc.status, str(exc))
    try:
        verdicts = arrived.receive_all(
            [(f, 0, data) for f, data in zip(files, parts, strict=True)], request.user
        )
    except OSError as exc:
        return _storage_full_or_raise(exc, ", ".join(f.name for f in files))
    received = [
        {"file": f.pk, "chunk": 0, "stored": True, "check": arrived.public(verdict)}
        for f, verdict in zip(files, verdicts, strict=True)
    ]
    return Response({"files": received})


@extend_schema(
    operation_id="uploads_ingest",
    parameters=[_UPLOAD],
    description="Make the case from the received files (201), or find it already there (200).",
    request=shapes.IngestInputSerializer,
    responses={
        200: shapes.IngestReportSerializer,
        201: shapes.IngestReportSerializer,
        # The report, or a body that could not be read at all (`{"detail"}` alone).
        400: PolymorphicProxySerializer(
            component_name="IngestBadRequest",
            serializers=[shapes.IngestRefusalSerializer, ErrorSerializer],
            resource_type_field_name=None,
        ),
        404: ErrorSerializer,
        409: PolymorphicProxySerializer(
            component_name="IngestConflict",
            serializers=[shapes.IngestRefusalSerializer, ErrorSerializer],
            resource_type_field_name=None,
        ),
        413: shapes.IngestRefusalSerializer,
        422: shapes.IngestRefusalSerializer,
    },
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def ingest_session(request: Request, public_id: uuid.UUID) -> Response:
    session = _session_of(request, public_id)
    if closed := _still_open(session):
        return closed
    files = [chunks.refresh_received(f) for f in session.files.all()]
    missing = [f for f in files if not f.is_complete]
    if missing:
        shown = ", ".join(
            f"{f.name} ({len(f.received)} of {f.chunk_count} chunks)" for f in missing[:5]
        )
        return _problem(409, f"{len(missing)} file(s) are not complete yet: {shown}")
    options = request.data if isinstance(request.data, dict) else None
    if options is None:
        return _problem(400, 'Send a JSON object: {"series_instance_uid"?, "strict"?}.')
    series_uid = str(options.get("series_instance_uid") or "") or None
    strict = bool(options.get("strict", False))
    with tempfile.TemporaryDirectory(prefix="ldct-upload-") as workdir:
        try:
            sources = [_source(f, Path(workdir)) for f in files]
        except FileNotFoundError as exc:
            return _problem(
                409,
                f"{exc.args[0]}: still being checked, or changed by another "
                "request; try again in a moment",
            )
        try:
            report = ingest(
                owner=request.user,
                label=session.label,
                sources=sources,
                series_uid=series_uid,
                strict=strict,
            )
        except OSError as exc:
            return _storage_full_or_raise(
                exc, f"the case {session.label!r} (the received files are kept)"
            )
        except IngestError as exc:
            _forget_refused_archives(files, sources)
            session.report = exc.report.as_dict()
            session.save(update_fields=["report", "updated_at"])
            return Response(session.report | {"detail": exc.report.message}, status=exc.status)
    with transaction.atomic():
        session.report = report.as_dict()
        session.status = UploadSession.Status.INGESTED
        session.case_id = report.case["id"]
        session.save()
        session.files.update(verdict=None)  # they name the source UIDs: not kept after ingest
    chunks.discard_session(session)
    created = report.case.get("created")
    return Response(session.report, status=201 if created else 200)


def _forget_refused_archives(files: list[UploadFile], sources: list[SourceFile]) -> None:
    """A zip that ingest refused is never read again: its raw, possibly identified bytes go
    now, and the refusal stays on the file (as for a refused DICOM file) for the report."""
    for upload_file, source in zip(files, sources, strict=True):
        refused = (source.verdict or {}).get("status") == "rejected"
        if upload_file.verdict is None and refused:
            upload_file.verdict = source.verdict
            upload_file.save(update_fields=["verdict"])
            chunks.discard_chunks(upload_file)


def _source(upload_file: UploadFile, workdir: Path) -> SourceFile:
    if upload_file.verdict is not None:  # examined on arrival: nothing to assemble
        return SourceFile(
            upload_file.name, None, upload_file.size_bytes, verdict=upload_file.verdict
        )
    try:
        return chunks.assemble(upload_file, workdir)
    except FileNotFoundError:
        # Its last chunk's request is examining it right now and took the chunks.
        raise FileNotFoundError(upload_file.name) from None
