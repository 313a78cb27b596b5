"""The model registry through the REST API.

GET/POST /api/models/               list; upload (multipart: checkpoint, name, version,
                                    make_default)
POST     /api/models/ID/default/    make it the default for new cases (staff)
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, parser_classes, permission_classes
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study.access import CanUseCases
from reader_study.accounts.serializers import ErrorSerializer, id_path_parameter
from reader_study.jobs import serializers as job_json
from reader_study.models import DenoiserModel
from reader_study.registry import service as registry


def _error(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": message}, status=code)


@extend_schema(
    methods=["GET"], operation_id="models_list", responses=job_json.DenoiserModelListSerializer
)
@extend_schema(
    methods=["POST"],
    operation_id="models_create",
    description="Register a checkpoint (multipart).",
    request={"multipart/form-data": job_json.DenoiserModelUploadSerializer},
    responses={
        201: job_json.DenoiserModelSerializer,
        400: ErrorSerializer,
        403: OpenApiResponse(ErrorSerializer, description="Only staff set the default model."),
    },
)
@api_view(["GET", "POST"])
@permission_classes([CanUseCases])
@parser_classes([MultiPartParser, FormParser, JSONParser])
def models(request: Request) -> Response:
    if request.method == "GET":
        items = DenoiserModel.objects.select_related("created_by").order_by("name", "-created_at")
        return Response({"results": [job_json.model(m, request.user) for m in items]})
    upload = request.FILES.get("checkpoint")
    if upload is None:
        return _error("Send the checkpoint file as multipart field 'checkpoint'.")
    try:
        model = registry.register_checkpoint(
            upload,
            filename=upload.name,
            name=request.data.get("name", ""),
            version=request.data.get("version", ""),
            created_by=request.user,
            make_default=str(request.data.get("make_default", "")).lower() in ("1", "true", "on"),
        )
    except registry.DefaultRefused as exc:
        return _error(str(exc), status.HTTP_403_FORBIDDEN)
    except registry.RegistryError as exc:
        return _error(str(exc))
    model.refresh_from_db()
    return Response(job_json.model(model, request.user), status=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="models_set_default",
    request=None,
    parameters=[id_path_parameter("The model.")],
    responses={
        200: job_json.DenoiserModelSerializer,
        403: OpenApiResponse(ErrorSerializer, description="Only staff set the default model."),
        404: ErrorSerializer,
    },
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def model_set_default(request: Request, pk: int) -> Response:
    model = get_object_or_404(DenoiserModel, pk=pk)
    try:
        registry.set_default(model, by=request.user)
    except registry.DefaultRefused as exc:
        return _error(str(exc), status.HTTP_403_FORBIDDEN)
    return Response(job_json.model(model, request.user))
