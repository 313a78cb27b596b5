"""The analysis page of a study, its figures, its downloadable report, and the same as JSON.

Only the owner (and staff) reach them; anyone else gets 404 (`access.study_of_owner`).
"""

from __future__ import annotations

import pandas as pd
from django.core.cache import cache
from django.db.models import Count, Max
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.decorators import api_view, permission_classes
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study import access
from reader_study.accounts.serializers import ErrorSerializer, id_path_parameter
from reader_study.models import Presentation, Score
from reader_study.studies import export

BOOTSTRAP = 2000
# Scores only change while a study is open; a repeated view must not recompute bootstraps.
ANALYSIS_CACHE_SECONDS = 24 * 3600


def scores_frame(study) -> pd.DataFrame:
    """The export's rows of submitted readings as a DataFrame: the analysis reads what
    researchers get, less answers autosaved on a case the reader never submitted."""
    frame = pd.DataFrame(list(export.rows(study)), columns=export.COLUMNS)
    return frame[frame["answered_at"] != ""]


def _results(study) -> dict:
    """The analysis of the study's current scores, computed once per version of them."""
    version = Score.objects.filter(presentation__study=study).aggregate(
        n=Count("pk"), last=Max("updated_at")
    )
    last = version["last"].timestamp() if version["last"] else 0
    # A preference given without any score changes no Score row but counts in the analysis.
    answered = Presentation.objects.filter(study=study).aggregate(last=Max("updated_at"))["last"]
    answered = answered.timestamp() if answered else 0
    key = f"study-analysis:{study.pk}:{version['n']}:{last}:{answered}:{BOOTSTRAP}"
    found = cache.get(key)
    if found is None:
        found = _compute(study)
        cache.set(key, found, ANALYSIS_CACHE_SECONDS)
    return found


def _compute(study) -> dict:
    from reader_study.studies.analysis import statistics  # scipy/statsmodels: on use only

    frame = scores_frame(study)
    return statistics.analyse(
        frame,
        seed=study.seed,
        bootstrap=BOOTSTRAP,
        conditions=study.conditions(),
        scale=study.scale,
    )


@require_GET
def analysis(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.study_of_owner(request.user, pk)
    return render(request, "studies/analysis.html", _context(study))


def _context(study) -> dict:
    criteria = list(study.criteria.all())
    return {
        "study": study,
        "results": _results(study),
        "labels": {c.key: c.label for c in criteria},
        "figures": {
            c.key: {
                kind: reverse("study-figure", args=[study.pk, c.key, kind])
                for kind in ("distribution", "vgc")
            }
            for c in criteria
        },
    }


@require_GET
def report(request: HttpRequest, pk: int) -> HttpResponse:
    """A self-contained HTML report (figures inlined) to download and archive."""
    from reader_study.studies.analysis import plots  # matplotlib: on use only

    study = access.study_of_owner(request.user, pk)
    context = _context(study)
    frame = scores_frame(study)
    context["figures"] = {
        key: {
            kind: plots.data_uri(plots.figure(frame, key, kind, study.conditions()))
            for kind in plots.KINDS
        }
        for key in context["labels"]
    }
    html = render_to_string("studies/report.html", context)
    export.record(study, request.user, "report.html")
    response = HttpResponse(html, content_type="text/html; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="study-{study.pk}-report.html"'
    return response


@require_GET
def figure(request: HttpRequest, pk: int, criterion: str, kind: str) -> HttpResponse:
    from reader_study.studies.analysis import plots

    study = access.study_of_owner(request.user, pk)
    if kind not in plots.KINDS or not study.criteria.filter(key=criterion).exists():
        raise Http404("No such figure.")
    png = plots.figure(scores_frame(study), criterion, kind, study.conditions())
    return HttpResponse(png, content_type="image/png")


@extend_schema(
    operation_id="studies_analysis",
    description="The study's statistics, as the analysis page shows them.",
    parameters=[id_path_parameter("The study (its owner's, or any to staff).")],
    responses={
        200: OpenApiResponse(
            OpenApiTypes.OBJECT, description="The results of the statistical analysis."
        ),
        404: ErrorSerializer,
    },
)
@api_view(["GET"])
@permission_classes([IsAuthenticated])
def analysis_api(request: Request, pk: int) -> Response:
    study = access.study_of_owner(request.user, pk)
    return Response(_results(study))
