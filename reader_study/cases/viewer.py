"""The researcher's unblinded pair viewer: a case's original and denoised series side by
side, and their difference. Slices are served one file each in one plain format (signed
16-bit HU), so multi-frame and compressed series look the same to the viewer."""

from __future__ import annotations

import functools
import logging

import numpy as np
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.views.decorators.http import require_GET

from reader_study.access import can_use_cases, visible_cases
from reader_study.imaging import (
    PRESETS,
    DamagedFile,
    build,
    encode,
    header_of,
    hounsfield,
    slices,
)
from reader_study.models import Series

log = logging.getLogger(__name__)
DIFFERENCE_WINDOW = (200, 0)


def _damage_said(view):
    """A damaged stored file answers with its name and reason, not a bare server error."""

    @functools.wraps(view)
    def answer(request: HttpRequest, *args, **kwargs) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except DamagedFile as exc:
            log.error("case viewer: damaged file %s", exc)
            message = f"This slice cannot be shown: the stored file {exc}. Upload the case again."
            return JsonResponse({"detail": message}, status=500)

    return answer


def _case_series(request: HttpRequest, pk: int, series_pk: int) -> Series:
    if not can_use_cases(request.user):
        raise PermissionDenied("Cases are for researchers.")
    case = get_object_or_404(visible_cases(request.user), pk=pk)
    return get_object_or_404(case.series, pk=series_pk)


def _slice_file(index: int, hu: np.ndarray, geometry_from, key: str, window):
    return encode(build(key, index, header_of(geometry_from), hu, window))


@require_GET
@_damage_said
def slice_file(request: HttpRequest, pk: int, series_pk: int, index: int) -> HttpResponse:
    series = _case_series(request, pk, series_pk)
    found = slices(series)
    if not 0 <= index < len(found):
        raise Http404("No such slice.")
    hu = hounsfield(found[index])
    window = PRESETS["abdomen"][1:]
    data = _slice_file(index, hu, found[index], f"viewer-{series.pk}", window)
    return HttpResponse(data, content_type="application/dicom")


@require_GET
@_damage_said
def difference_file(request: HttpRequest, pk: int, series_pk: int, index: int) -> HttpResponse:
    """Denoised minus original, slice by slice, in HU (what the model removed, negated)."""
    denoised = _case_series(request, pk, series_pk)
    original = denoised.case.original_series
    if denoised.kind != Series.Kind.DENOISED or original is None:
        raise Http404("A difference needs a denoised series and its original.")
    mine, theirs = slices(denoised), slices(original)
    if not 0 <= index < min(len(mine), len(theirs)):
        raise Http404("No such slice.")
    diff = hounsfield(mine[index]).astype(np.int32) - hounsfield(theirs[index])
    diff = np.clip(diff, -32768, 32767).astype(np.int16)
    key = f"difference-{denoised.pk}"
    return HttpResponse(
        _slice_file(index, diff, theirs[index], key, DIFFERENCE_WINDOW),
        content_type="application/dicom",
    )


def viewer_config(case, denoised: Series | None) -> dict | None:
    """The case page's viewer: the original beside one denoised series (None: nothing to
    compare yet)."""
    original = case.original_series
    if original is None or denoised is None:
        return None
    count = min(len(slices(original)), len(slices(denoised)))

    def urls(name: str, series: Series) -> list[str]:
        return [reverse(name, args=[case.pk, series.pk, n]) for n in range(count)]

    model = denoised.denoiser_model
    return {
        "sides": [
            {"label": "Original", "images": urls("case-slice", original)},
            {
                "label": f"Denoised — model {model.name} {model.version}",
                "images": urls("case-slice", denoised),
            },
        ],
        "difference": {
            "label": "Difference (denoised − original)",
            "images": urls("case-difference", denoised),
        },
        "window": {
            "default_preset": "abdomen",
            "change_allowed": True,
            "presets": [
                {"key": k, "label": v[0], "width": v[1], "center": v[2]} for k, v in PRESETS.items()
            ],
        },
    }
