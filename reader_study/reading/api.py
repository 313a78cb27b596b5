"""The reading page's API: answers (autosave), submit, interaction log, and the images."""

from __future__ import annotations

from django.http import Http404, HttpResponse
from django.urls import reverse
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study import access
from reader_study.access import IsReader
from reader_study.reading import answers, blinded, navigation


def _problem(exc: answers.AnswerError) -> Response:
    return Response({"detail": str(exc)}, status=exc.status)


@api_view(["PUT"])
@permission_classes([IsReader])
def save_answers(request: Request, token: str) -> Response:
    presentation = access.presentation_for_reader(request.user, token)
    try:
        saved = answers.save(presentation, request.data)
    except answers.AnswerError as exc:
        return _problem(exc)
    return Response({"saved": True, "complete": saved.complete, "missing": saved.missing})


@api_view(["POST"])
@permission_classes([IsReader])
def submit(request: Request, token: str) -> Response:
    presentation = access.presentation_for_reader(request.user, token)
    seconds = request.data.get("seconds") if isinstance(request.data, dict) else None
    if isinstance(seconds, bool) or not isinstance(seconds, int | float | type(None)):
        return Response({"detail": "seconds: a number."}, status=status.HTTP_400_BAD_REQUEST)
    try:
        answers.submit(presentation, seconds)
    except answers.AnswerError as exc:
        missing = answers.completeness(presentation)[1]
        return Response({"detail": str(exc), "missing": missing}, status=exc.status)
    found = navigation.next_unanswered(presentation.reader, after=presentation)
    if found is None:
        url = reverse("reading-done", args=[presentation.study_id])
    else:
        url = reverse("reading-page", args=[found.token])
    return Response({"next_url": url})


@api_view(["POST"])
@permission_classes([IsReader])
def log_events(request: Request, token: str) -> Response:
    presentation = access.presentation_for_reader(request.user, token)
    events = request.data.get("events") if isinstance(request.data, dict) else None
    try:
        answers.record_events(presentation, events)
    except answers.AnswerError as exc:
        return _problem(exc)
    return Response(status=status.HTTP_204_NO_CONTENT)


@api_view(["GET"])
@permission_classes([IsReader])
def image(request: Request, token: str, index: int) -> HttpResponse:
    """One slice of one side, blinded (see reading.blinded)."""
    presentation, side = access.presentation_for_image(request.user, token)
    data = blinded.blinded_file(presentation, side, index)
    if data is None:
        raise Http404("No such image.")
    return HttpResponse(data, content_type="application/dicom")
