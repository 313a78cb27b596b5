"""Case API: the researcher's cases, their series facts and their jobs (JSON)."""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from django.urls import reverse
from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study.access import CanUseCases, visible_cases
from reader_study.accounts.serializers import ErrorSerializer, id_path_parameter
from reader_study.cases.serializers import CaseDetailSerializer, CaseSerializer
from reader_study.jobs.serializers import denoise_job
from reader_study.models import Case


def series_json(series) -> dict:
    return {
        "id": series.pk,
        "kind": series.kind,
        "denoiser_model": str(series.denoiser_model) if series.denoiser_model_id else None,
        "series_instance_uid": series.series_instance_uid,
        "description": series.description,
        "rows": series.rows,
        "columns": series.columns,
        "instances": series.num_instances,
        "facts": series.facts,
    }


def case_json(case: Case, detail: bool = False) -> dict:
    data = {
        "id": case.pk,
        "label": case.label,
        "owner": case.owner.get_username(),
        "status": case.status,
        "status_message": case.status_message,
        "study_instance_uid": case.study_instance_uid,
        "created_at": case.created_at.isoformat(),
        "url": reverse("case-detail", args=[case.pk]),
        "dicomweb": reverse("dicomweb:study", args=[case.study_instance_uid]),
    }
    if detail:
        data["series"] = [series_json(s) for s in case.series.select_related("denoiser_model")]
        data["jobs"] = [
            denoise_job(j) for j in case.denoise_jobs.select_related("denoiser_model", "case")
        ]
        data["preview"] = reverse("case-preview", args=[case.pk])
    return data


@extend_schema(operation_id="cases_list", responses=CaseSerializer(many=True))
@api_view(["GET"])
@permission_classes([CanUseCases])
def case_list(request: Request) -> Response:
    cases = visible_cases(request.user).select_related("owner")
    return Response([case_json(c) for c in cases])


@extend_schema(
    operation_id="cases_retrieve",
    parameters=[id_path_parameter("The case.")],
    responses={200: CaseDetailSerializer, 404: ErrorSerializer},
)
@api_view(["GET"])
@permission_classes([CanUseCases])
def case_detail(request: Request, pk: int) -> Response:
    case = get_object_or_404(visible_cases(request.user).select_related("owner"), pk=pk)
    return Response(case_json(case, detail=True))
