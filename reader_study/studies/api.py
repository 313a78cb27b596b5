"""Studies through the REST API: set-up, open/close, progress, export (the owner only).

GET/POST   /api/studies/                    list, create a draft
GET/PATCH/DELETE /api/studies/ID/           one study (options lock when it opens)
PUT        /api/studies/ID/criteria/        [{key, label, required, levels}]
PUT        /api/studies/ID/cases/           {cases: [ids], training: [ids], slice_ranges}
POST       /api/studies/ID/readers/         {reader: username or e-mail}
POST       /api/studies/ID/open/  .../close/
GET        /api/studies/ID/progress/
GET        /api/studies/ID/export.csv  export.json  description.json
"""

from __future__ import annotations

from django.db import transaction
from django.http import StreamingHttpResponse
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study import access
from reader_study.access import CanUseCases
from reader_study.studies import export, lifecycle, setup
from reader_study.studies.lifecycle import StudyError
from reader_study.studies.progress import progress
from reader_study.studies.serializers import (
    CasesInputSerializer,
    CriterionSerializer,
    ProgressSerializer,
    ReaderInputSerializer,
    StudySerializer,
)


def _refused(exc: StudyError) -> Response:
    # A rule about the study's state is a conflict; anything else is a bad request.
    code = 409 if "cannot change once" in str(exc) or "cannot open" in str(exc) else 400
    return Response({"detail": str(exc)}, status=code)


def _study(request: Request, pk: int):
    # Anyone but the owner (and staff), readers included, learns nothing: 404.
    return access.study_of_owner(request.user, pk)


def _fields(serializer: StudySerializer) -> dict:
    return dict(serializer.validated_data)


@api_view(["GET", "POST"])
@permission_classes([CanUseCases])
def studies(request: Request) -> Response:
    if request.method == "GET":
        items = access.owned_studies(request.user).prefetch_related("criteria")
        return Response({"results": StudySerializer(items, many=True).data})
    serializer = StudySerializer(data=request.data)
    serializer.is_valid(raise_exception=True)
    try:
        study = setup.create_study(request.user, _fields(serializer))
    except StudyError as exc:
        return _refused(exc)
    return Response(StudySerializer(study).data, status=status.HTTP_201_CREATED)


@api_view(["GET", "PATCH", "DELETE"])
@permission_classes([IsAuthenticated])
def study_detail(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    if request.method == "GET":
        return Response(StudySerializer(study).data)
    if request.method == "DELETE":
        try:
            lifecycle.require_draft(study, "A study with readers' answers")
        except StudyError as exc:
            return _refused(exc)
        study.delete()
        return Response(status=status.HTTP_204_NO_CONTENT)
    serializer = StudySerializer(study, data=request.data, partial=True)
    serializer.is_valid(raise_exception=True)
    try:
        setup.update_study(study, _fields(serializer))
    except StudyError as exc:
        return _refused(exc)
    return Response(StudySerializer(study).data)


@api_view(["PUT"])
@permission_classes([IsAuthenticated])
def study_criteria(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    try:
        setup.set_criteria(study, request.data)
    except StudyError as exc:
        return _refused(exc)
    return Response(CriterionSerializer(study.criteria.all(), many=True).data)


@api_view(["PUT"])
@permission_classes([IsAuthenticated])
def study_cases(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    data = CasesInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        setup.set_cases(
            request.user,
            study,
            data.validated_data["cases"],
            data.validated_data["training"],
            data.validated_data["slice_ranges"],
        )
    except StudyError as exc:
        return _refused(exc)
    return Response(StudySerializer(study).data)


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def study_readers(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    data = ReaderInputSerializer(data=request.data)
    data.is_valid(raise_exception=True)
    try:
        with transaction.atomic():
            setup.add_readers(study, [data.validated_data["reader"]])
    except StudyError as exc:
        return _refused(exc)
    return Response(StudySerializer(study).data, status=status.HTTP_201_CREATED)


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def study_open(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    try:
        created = lifecycle.open_study(study)
    except StudyError as exc:
        return _refused(exc)
    study.refresh_from_db()
    return Response(StudySerializer(study).data | {"presentations": created})


@api_view(["POST"])
@permission_classes([IsAuthenticated])
def study_close(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    try:
        lifecycle.close_study(study)
    except StudyError as exc:
        return Response({"detail": str(exc)}, status=status.HTTP_409_CONFLICT)
    return Response(StudySerializer(study).data)


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def study_progress(request: Request, pk: int) -> Response:
    return Response(ProgressSerializer(progress(_study(request, pk))).data)


def _download(chunks, content_type: str, filename: str) -> StreamingHttpResponse:
    response = StreamingHttpResponse(chunks, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _name(study, suffix: str) -> str:
    return f"study-{study.pk}-{suffix}"


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def export_csv(request: Request, pk: int):
    study = _study(request, pk)
    export.record(study, request.user, "scores.csv")
    return _download(
        export.csv_chunks(study), "text/csv; charset=utf-8", _name(study, "scores.csv")
    )


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def export_json(request: Request, pk: int):
    study = _study(request, pk)
    export.record(study, request.user, "scores.json")
    return _download(export.json_chunks(study), "application/json", _name(study, "scores.json"))


@api_view(["GET"])
@permission_classes([IsAuthenticated])
def export_description(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    export.record(study, request.user, "study.json")
    response = Response(export.description(study))
    response["Content-Disposition"] = f'attachment; filename="{_name(study, "study.json")}"'
    return response
