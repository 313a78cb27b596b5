"""REST API of jobs, models and training (researchers and staff; owner-scoped).

GET  /api/jobs/                    denoising jobs (?state=running&case=ID)
POST /api/jobs/                    {"cases": [ids], "model": id}  (model: default if absent)
GET  /api/jobs/progress/?ids=1,2   compact state/progress for live pages
GET  /api/jobs/ID/                 one job
POST /api/jobs/ID/retry/  .../cancel/
GET  /api/models/                  the registry
POST /api/models/                  multipart: checkpoint, name, version, make_default
POST /api/models/ID/default/
GET  /api/training-jobs/  POST {"name", "low_dose_cases", "normal_dose_cases", "options"}
GET  /api/training-jobs/ID/  POST .../cancel/  .../retry/
"""

from __future__ import annotations

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study.access import CanUseCases, visible_denoise_jobs, visible_training_jobs
from reader_study.accounts.serializers import ErrorSerializer, id_path_parameter
from reader_study.inputs import MAX_ID, BadInput, id_list_param, row_id, row_ids
from reader_study.jobs import lifecycle
from reader_study.jobs import serializers as job_json
from reader_study.jobs.forms import ready_cases
from reader_study.jobs.launch import launch_training, request_denoise
from reader_study.jobs.training import TrainingOptions
from reader_study.models import ACTIVE_STATES, DenoiserModel, JobState
from reader_study.registry import service as registry

MAX_LIST = 500

_JOB = id_path_parameter("The denoising job.")
_TRAINING_JOB = id_path_parameter("The training job.")
_REFUSED = OpenApiResponse(ErrorSerializer, description="Not possible in the job's state.")


def _error(message: str, code: int = status.HTTP_400_BAD_REQUEST) -> Response:
    return Response({"detail": message}, status=code)


def _owned_cases(request: Request, ids: list[int], what: str):
    cases = list(ready_cases(request.user).filter(pk__in=ids))
    missing = sorted(set(ids) - {c.pk for c in cases})
    if missing:
        raise ValueError(
            f"'{what}': no ready case of yours with id {', '.join(map(str, missing))}."
        )
    return cases


# --- denoising jobs ------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="jobs_list",
    parameters=[
        OpenApiParameter(
            "state", str, enum=JobState.values, description="Only jobs in this state."
        ),
        OpenApiParameter(
            "case",
            {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
            description="Only the jobs of this case.",
        ),
    ],
    responses={200: job_json.DenoiseJobListSerializer, 400: ErrorSerializer},
)
@extend_schema(
    methods=["POST"],
    operation_id="jobs_create",
    description="Denoise the cases with the model; a case already done or queued is not "
    "queued twice (see each result's `outcome`).",
    request=job_json.DenoiseJobInputSerializer,
    responses={201: job_json.DenoiseJobCreatedListSerializer, 400: ErrorSerializer},
)
@api_view(["GET", "POST"])
@permission_classes([CanUseCases])
def jobs(request: Request) -> Response:
    if request.method == "POST":
        return _create_jobs(request)
    queryset = visible_denoise_jobs(request.user).select_related("output_series")
    if "state" in request.query_params:
        if request.query_params["state"] not in JobState.values:
            return _error(f"state: one of {', '.join(JobState.values)}.")
        queryset = queryset.filter(state=request.query_params["state"])
    if "case" in request.query_params:
        try:
            queryset = queryset.filter(case_id=row_id(request.query_params["case"], "case"))
        except BadInput as exc:
            return _error(str(exc))
    return Response({"results": [job_json.denoise_job(j) for j in queryset[:MAX_LIST]]})


def _create_jobs(request: Request) -> Response:
    if not isinstance(request.data, dict):
        return _error('Send a JSON object: {"cases": [ids], "model": id}.')
    try:
        case_ids = row_ids(request.data.get("cases"), "cases")
        model_id = request.data.get("model")
        model_id = None if model_id in (None, "") else row_id(model_id, "model")
        cases = _owned_cases(request, case_ids, "cases")
    except ValueError as exc:
        return _error(str(exc))
    if model_id is None:
        model = registry.default_model()
        if model is None:
            return _error("No default model is registered; upload one or name a model.")
    else:
        model = DenoiserModel.objects.filter(pk=model_id).first()
        if model is None:
            return _error(f"No model with id {model_id}.")
    results = []
    for case in cases:
        job, outcome = request_denoise(case, model, request.user)
        results.append({**job_json.denoise_job(job), "outcome": outcome})
    return Response({"results": results}, status=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="jobs_retrieve",
    parameters=[_JOB],
    responses={200: job_json.DenoiseJobSerializer, 404: ErrorSerializer},
)
@api_view(["GET"])
@permission_classes([CanUseCases])
def job_detail(request: Request, pk: int) -> Response:
    job = get_object_or_404(
        visible_denoise_jobs(request.user).select_related("output_series"), pk=pk
    )
    return Response(job_json.denoise_job(job))


@extend_schema(
    operation_id="jobs_progress",
    parameters=[
        OpenApiParameter(
            "ids", str, description="Comma-separated job ids; all active jobs when absent."
        ),
        OpenApiParameter(
            "kind", str, enum=["denoise", "training"], description="Which jobs (`denoise`)."
        ),
    ],
    responses={
        200: job_json.JobProgressListSerializer,
        400: ErrorSerializer,
    },
)
@api_view(["GET"])
@permission_classes([CanUseCases])
def jobs_progress(request: Request) -> Response:
    """State and progress of the given jobs (or of all active ones), for polling pages."""
    try:
        ids = id_list_param(request.query_params.get("ids", ""), "ids", limit=MAX_LIST)
    except BadInput as exc:
        return _error(str(exc))
    denoise = visible_denoise_jobs(request.user).select_related("output_series")
    training = visible_training_jobs(request.user)
    kind = request.query_params.get("kind", "denoise")
    if kind not in ("denoise", "training"):
        return _error("kind: `denoise` or `training`.")
    queryset = training if kind == "training" else denoise
    queryset = queryset.filter(pk__in=ids) if ids else queryset.filter(state__in=ACTIVE_STATES)
    shape = (
        (lambda j: job_json.training_job(j, history=False))
        if kind == "training"
        else job_json.denoise_job
    )
    return Response({"results": [shape(j) for j in queryset[:MAX_LIST]]})


def _action(job, action) -> Response | None:
    try:
        action(job)
    except lifecycle.JobActionError as exc:
        return _error(str(exc), status.HTTP_409_CONFLICT)
    return None


@extend_schema(
    operation_id="jobs_retry",
    request=None,
    parameters=[_JOB],
    responses={202: job_json.DenoiseJobSerializer, 404: ErrorSerializer, 409: _REFUSED},
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def job_retry(request: Request, pk: int) -> Response:
    job = get_object_or_404(visible_denoise_jobs(request.user), pk=pk)
    refused = _action(job, lifecycle.retry)
    job.refresh_from_db()
    return refused or Response(job_json.denoise_job(job), status=status.HTTP_202_ACCEPTED)


@extend_schema(
    operation_id="jobs_cancel",
    request=None,
    parameters=[_JOB],
    responses={200: job_json.DenoiseJobSerializer, 404: ErrorSerializer, 409: _REFUSED},
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def job_cancel(request: Request, pk: int) -> Response:
    job = get_object_or_404(visible_denoise_jobs(request.user), pk=pk)
    refused = _action(job, lambda j: lifecycle.cancel(j, request.user.get_username()))
    job.refresh_from_db()
    return refused or Response(job_json.denoise_job(job))


# --- training ------------------------------------------------------------------------------------


@extend_schema(
    methods=["GET"],
    operation_id="training_jobs_list",
    responses=job_json.TrainingJobListSerializer,
)
@extend_schema(
    methods=["POST"],
    operation_id="training_jobs_create",
    request=job_json.TrainingJobInputSerializer,
    responses={201: job_json.TrainingJobSerializer, 400: ErrorSerializer},
)
@api_view(["GET", "POST"])
@permission_classes([CanUseCases])
def training_jobs(request: Request) -> Response:
    if request.method == "GET":
        items = visible_training_jobs(request.user)[:MAX_LIST]
        return Response({"results": [job_json.training_job(j, history=False) for j in items]})
    data = request.data
    if not isinstance(data, dict):
        return _error("Send a JSON object with name, low_dose_cases, normal_dose_cases, options.")
    try:
        name = str(data.get("name") or "").strip()
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise ValueError("'name' must be a slug (letters, digits, dashes).")
        options = TrainingOptions.from_dict(data.get("options") or {}).to_dict()
        low = _owned_cases(
            request, row_ids(data.get("low_dose_cases"), "low_dose_cases"), "low_dose_cases"
        )
        normal = _owned_cases(
            request,
            row_ids(data.get("normal_dose_cases"), "normal_dose_cases"),
            "normal_dose_cases",
        )
        if set(low) & set(normal):
            raise ValueError("A case cannot be both low-dose and normal-dose.")
    except (TypeError, ValueError) as exc:
        return _error(str(exc))
    job = launch_training(request.user, name, options, low, normal)
    return Response(job_json.training_job(job), status=status.HTTP_201_CREATED)


@extend_schema(
    operation_id="training_jobs_retrieve",
    parameters=[_TRAINING_JOB],
    responses={200: job_json.TrainingJobSerializer, 404: ErrorSerializer},
)
@api_view(["GET"])
@permission_classes([CanUseCases])
def training_job_detail(request: Request, pk: int) -> Response:
    job = get_object_or_404(visible_training_jobs(request.user), pk=pk)
    return Response(job_json.training_job(job))


@extend_schema(
    operation_id="training_jobs_cancel",
    request=None,
    parameters=[_TRAINING_JOB],
    responses={200: job_json.TrainingJobSerializer, 404: ErrorSerializer, 409: _REFUSED},
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def training_job_cancel(request: Request, pk: int) -> Response:
    job = get_object_or_404(visible_training_jobs(request.user), pk=pk)
    refused = _action(job, lambda j: lifecycle.cancel(j, request.user.get_username()))
    job.refresh_from_db()
    return refused or Response(job_json.training_job(job))


@extend_schema(
    operation_id="training_jobs_retry",
    request=None,
    parameters=[_TRAINING_JOB],
    responses={202: job_json.TrainingJobSerializer, 404: ErrorSerializer, 409: _REFUSED},
)
@api_view(["POST"])
@permission_classes([CanUseCases])
def training_job_retry(request: Request, pk: int) -> Response:
    job = get_object_or_404(visible_training_jobs(request.user), pk=pk)
    refused = _action(job, lifecycle.retry)
    job.refresh_from_db()
    return refused or Response(job_json.training_job(job), status=status.HTTP_202_ACCEPTED)
