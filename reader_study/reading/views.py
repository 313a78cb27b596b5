"""The reader's pages: the worklist, the reading workstation and the end of a study.

Nothing here names a case, a series, a model or a condition: a presentation is known by
its token, each side's images by their own tokens.
"""

from __future__ import annotations

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET

from reader_study import access
from reader_study.access import reader_required
from reader_study.imaging import PRESETS
from reader_study.models import Presentation, ReaderStudy, Score
from reader_study.reading import blinded, navigation
from reader_study.reading.answers import sides_of
from reader_study.studies.markdown import render_markdown


@require_GET
@reader_required
def worklist(request: HttpRequest) -> HttpResponse:
    rows = []
    for study in access.readable_studies(request.user).order_by("-opened_at"):
        member = study.readers.get(user=request.user)
        rows.append({"study": study, "progress": navigation.progress(member)})
    return render(request, "reading/worklist.html", {"rows": rows})


def _membership(request: HttpRequest, pk: int):
    study = access.readable_studies(request.user).filter(pk=pk).first()
    if study is None:
        raise Http404("No such study of yours.")
    return study, study.readers.get(user=request.user)


@require_GET
@reader_required
def start(request: HttpRequest, pk: int) -> HttpResponse:
    """Opens the first unanswered case (Start / Continue), or the end screen."""
    study, member = _membership(request, pk)
    found = navigation.next_unanswered(member)
    if found is None:
        return redirect("reading-done", pk=study.pk)
    return redirect("reading-page", token=found.token)


@require_GET
@reader_required
def done(request: HttpRequest, pk: int) -> HttpResponse:
    study, member = _membership(request, pk)
    return render(
        request,
        "reading/done.html",
        {"study": study, "progress": navigation.progress(member)},
    )


@require_GET
@reader_required
def read(request: HttpRequest, token: str) -> HttpResponse:
    presentation = access.presentation_for_reader(request.user, token)
    if presentation.started_at is None and presentation.study.state == ReaderStudy.State.OPEN:
        Presentation.objects.filter(pk=presentation.pk, started_at__isnull=True).update(
            started_at=timezone.now()
        )
    config = reading_config(presentation)
    return render(request, "reading/read.html", {"config": config, "title": presentation.study})


def image_urls(presentation: Presentation, side: str, count: int) -> list[str]:
    token = presentation.token_a if side == "A" else presentation.token_b
    return [reverse("reading-image", args=[token, n]) for n in range(count)]


def reading_config(presentation: Presentation) -> dict:
    """Everything the reading page's script needs, and nothing that names the condition."""
    study = presentation.study
    member = presentation.reader
    count = blinded.slice_count(presentation)
    rows = navigation.sequence(member)
    following = navigation.following(presentation)
    back = navigation.previous(presentation) if study.allow_revise else None
    scores = Score.objects.filter(presentation=presentation).select_related("criterion")
    return {
        "token": presentation.token,
        "position": next((n for n, p in enumerate(rows, start=1) if p.pk == presentation.pk), 1),
        "total": len(rows),
        "session": presentation.session,
        "study": {"title": study.title, "instructions_html": render_markdown(study.instructions)},
        "sides": [{"label": s, "images": image_urls(presentation, s, count)} for s in "AB"],
        "criteria": [
            {"key": c.key, "label": c.label, "required": c.required, "levels": c.levels}
            for c in study.criteria.all()
        ],
        "scale": study.scale,
        "score_sides": list(sides_of(study)),
        "ask_preference": study.ask_preference,
        "ask_comment": study.ask_comment,
        "allow_revise": study.allow_revise,
        "read_only": study.state != ReaderStudy.State.OPEN
        or (presentation.answered_at is not None and not study.allow_revise),
        "window": {
            "default_preset": study.default_preset,
            "change_allowed": study.allow_window_change,
            "presets": [
                {"key": key, "label": label, "width": width, "center": center}
                for key, (label, width, center) in PRESETS.items()
            ],
        },
        "answers": {
            "scores": [
                {"side": s.side, "criterion": s.criterion.key, "value": s.value} for s in scores
            ],
            "preference": presentation.preference or None,
            "comment": presentation.comment,
        },
        "seconds": presentation.seconds,
        "api": {
            "answers": reverse("api-reading-answers", args=[presentation.token]),
            "submit": reverse("api-reading-submit", args=[presentation.token]),
            "log": reverse("api-reading-log", args=[presentation.token]),
        },
        "previous_url": reverse("reading-page", args=[back.token]) if back else None,
        "worklist_url": reverse("worklist"),
        "next_prefetch": _prefetch(following),
    }


def _prefetch(following: Presentation | None) -> dict | None:
    if following is None:
        return None
    count = blinded.slice_count(following)
    return {side: image_urls(following, side, count) for side in "AB"}
