"""Case pages: the list, one case with its series facts, preview and jobs, and the upload page."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.cache import patch_cache_control
from django.views.decorators.http import require_GET

from reader_study.access import can_use_cases, visible_cases
from reader_study.cases.preview import middle_instance, windowed_png
from reader_study.cases.viewer import viewer_config
from reader_study.ingest.limits import current, human_bytes
from reader_study.models import Series


def _researcher_or_staff(request: HttpRequest) -> None:
    if not can_use_cases(request.user):
        raise PermissionDenied("Cases are for researchers.")


@require_GET
def case_list(request: HttpRequest) -> HttpResponse:
    _researcher_or_staff(request)
    cases = visible_cases(request.user).select_related("owner").prefetch_related("series")
    return render(request, "cases/list.html", {"cases": cases})


@require_GET
def case_detail(request: HttpRequest, pk: int) -> HttpResponse:
    _researcher_or_staff(request)
    case = get_object_or_404(visible_cases(request.user), pk=pk)
    series = list(case.series.select_related("denoiser_model"))
    jobs = list(case.denoise_jobs.select_related("denoiser_model"))
    denoised = [s for s in series if s.kind == Series.Kind.DENOISED]
    chosen = _chosen(request, denoised)
    return render(
        request,
        "cases/detail.html",
        {
            "case": case,
            "series_list": series,
            "jobs": jobs,
            "denoised": denoised,
            "chosen": chosen,
            "viewer": viewer_config(case, chosen),
        },
    )


def _chosen(request: HttpRequest, denoised: list[Series]) -> Series | None:
    """The denoised series the viewer shows: ?series=ID, else the newest."""
    wanted = request.GET.get("series", "")
    found = next((s for s in denoised if str(s.pk) == wanted), None)
    return found or (max(denoised, key=lambda s: s.created_at) if denoised else None)


@require_GET
def case_preview(request: HttpRequest, pk: int) -> HttpResponse:
    _researcher_or_staff(request)
    case = get_object_or_404(visible_cases(request.user), pk=pk)
    series = case.original_series
    found = middle_instance(series) if series else None
    if found is None:
        raise Http404("This case has no images yet.")
    instance, frame = found
    etag = f'"{instance.sha256[:32]}-{frame}"'
    if request.headers.get("If-None-Match") == etag:
        return HttpResponse(status=304)
    response = HttpResponse(windowed_png(instance, frame, size=512), content_type="image/png")
    response["ETag"] = etag
    patch_cache_control(response, private=True, max_age=3600)
    return response


@require_GET
def upload_page(request: HttpRequest) -> HttpResponse:
    _researcher_or_staff(request)
    limits = current()
    return render(
        request,
        "uploads/upload.html",
        {
            "api_root": reverse("api-uploads"),
            "cases_url": reverse("case-list"),
            "max_upload": human_bytes(limits.max_upload_bytes),
            "max_files": limits.max_files,
        },
    )
