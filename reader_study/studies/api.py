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
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study import access
from reader_study.access import CanUseCases
from reader_study.accounts.serializers import ErrorSerializer, id_path_parameter
from reader_study.studies import export, lifecycle, setup
from reader_study.studies.lifecycle import StudyError
from reader_study.studies.progress import progress
from reader_study.studies.serializers import (
    CasesInputSerializer,
    CriterionInputSerializer,
    CriterionSerializer,
    ProgressSerializer,
    ReaderInputSerializer,
    ScoreRowSerializer,
    StudyDescriptionSerializer,
    StudyListSerializer,
    StudyOpenedSerializer,
    StudySerializer,
)

_STUDY = id_path_parameter("The study (its owner's, or any to staff).")
_INVALID = OpenApiResponse(
    OpenApiTypes.OBJECT,
    description="Invalid fields (`{field: [messages]}`) or a refused change (`{detail}`).",
)
_LOCKED = OpenApiResponse(
    ErrorSerializer, description="Not possible in the study's state (it is open or closed)."
)


def _refused(exc: StudyError) -> Response:
    return Response({"detail": str(exc)}, status=exc.status)


def _study(request: Request, pk: int):
    # Anyone but the owner (and staff), readers included, learns nothing: 404.
    return access.study_of_owner(request.user, pk)


def _fields(serializer: StudySerializer) -> dict:
    return dict(serializer.validated_data)


@extend_schema(methods=["GET"], operation_id="studies_list", responses=StudyListSerializer)
@extend_schema(
    methods=["POST"],
    operation_id="studies_create",
    description="A draft study; criteria, cases and readers follow.",
    request=StudySerializer,
    responses={201: StudySerializer, 400: _INVALID},
)
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


@extend_schema(
    methods=["GET"],
    operation_id="studies_retrieve",
    parameters=[_STUDY],
    responses={200: StudySerializer, 404: ErrorSerializer},
)
@extend_schema(
    methods=["PATCH"],
    operation_id="studies_partial_update",
    description="Change options; most lock when the study opens.",
    parameters=[_STUDY],
    request=StudySerializer,
    responses={200: StudySerializer, 400: _INVALID, 404: ErrorSerializer, 409: _LOCKED},
)
@extend_schema(
    methods=["DELETE"],
    operation_id="studies_destroy",
    description="Only a draft (a study with readers' answers stays).",
    parameters=[_STUDY],
    responses={
        204: OpenApiResponse(description="Deleted."),
        404: ErrorSerializer,
        409: _LOCKED,
    },
)
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


@extend_schema(
    operation_id="studies_criteria_set",
    description="Replace the criteria of a draft study.",
    parameters=[_STUDY],
    request=CriterionInputSerializer(many=True),
    responses={
        200: CriterionSerializer(many=True),
        400: ErrorSerializer,
        404: ErrorSerializer,
        409: _LOCKED,
    },
)
@api_view(["PUT"])
@permission_classes([IsAuthenticated])
def study_criteria(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    try:
        setup.set_criteria(study, request.data)
    except StudyError as exc:
        return _refused(exc)
    return Response(CriterionSerializer(study.criteria.all(), many=True).data)


@extend_schema(
    operation_id="studies_cases_set",
    description="Replace the cases of a draft study (training cases among them).",
    parameters=[_STUDY],
    request=CasesInputSerializer,
    responses={200: StudySerializer, 400: _INVALID, 404: ErrorSerializer, 409: _LOCKED},
)
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


@extend_schema(
    operation_id="studies_readers_add",
    parameters=[_STUDY],
    request=ReaderInputSerializer,
    responses={201: StudySerializer, 400: _INVALID, 404: ErrorSerializer, 409: _LOCKED},
)
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


@extend_schema(
    operation_id="studies_open",
    description="Open the study to its readers: creates the presentations.",
    parameters=[_STUDY],
    request=None,
    responses={
        200: StudyOpenedSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        409: _LOCKED,
    },
)
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


@extend_schema(
    operation_id="studies_close",
    parameters=[_STUDY],
    request=None,
    responses={200: StudySerializer, 404: ErrorSerializer, 409: _LOCKED},
)
@api_view(["POST"])
@permission_classes([IsAuthenticated])
def study_close(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    try:
        lifecycle.close_study(study)
    except StudyError as exc:
        return _refused(exc)
    return Response(StudySerializer(study).data)


@extend_schema(
    operation_id="studies_progress",
    parameters=[_STUDY],
    responses={200: ProgressSerializer, 404: ErrorSerializer},
)
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


@extend_schema(
    operation_id="studies_export_csv",
    description="Every score, one row each, unblinded (a download; the columns as in export.json).",
    parameters=[_STUDY],
    responses={
        (200, "text/csv"): OpenApiResponse(OpenApiTypes.BINARY, description="UTF-8 CSV."),
        404: ErrorSerializer,
    },
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def export_csv(request: Request, pk: int):
    study = _study(request, pk)
    export.record(study, request.user, "scores.csv")
    return _download(
        export.csv_chunks(study), "text/csv; charset=utf-8", _name(study, "scores.csv")
    )


@extend_schema(
    operation_id="studies_export_json",
    description="Every score, one object each, unblinded (a download).",
    parameters=[_STUDY],
    responses={(200, "application/json"): ScoreRowSerializer(many=True), 404: ErrorSerializer},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def export_json(request: Request, pk: int):
    study = _study(request, pk)
    export.record(study, request.user, "scores.json")
    return _download(export.json_chunks(study), "application/json", _name(study, "scores.json"))


@extend_schema(
    operation_id="studies_export_description",
    description="What a reviewer needs to read the exported table (a download).",
    parameters=[_STUDY],
    responses={200: StudyDescriptionSerializer, 404: ErrorSerializer},
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def export_description(request: Request, pk: int) -> Response:
    study = _study(request, pk)
    export.record(study, request.user, "study.json")
    response = Response(export.description(study))
    response["Content-Disposition"] = f'attachment; filename="{_name(study, "study.json")}"'
    return response
