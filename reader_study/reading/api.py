"""The reading page's API: answers (autosave), submit, interaction log, and the images."""

from __future__ import annotations

import hashlib
import logging

from django.http import Http404, HttpResponse
from django.urls import reverse
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.decorators import api_view, permission_classes
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study import access
from reader_study.access import IsReader
from reader_study.accounts.serializers import ErrorSerializer
from reader_study.imaging import DamagedFile
from reader_study.reading import answers, blinded, navigation
from reader_study.reading.serializers import (
    AnswersInputSerializer,
    AnswersSavedSerializer,
    EventsInputSerializer,
    SubmitInputSerializer,
    SubmitRefusalSerializer,
    SubmittedSerializer,
)

log = logging.getLogger(__name__)

_TOKEN = OpenApiParameter(
    "token", str, OpenApiParameter.PATH, description="The presentation's opaque token."
)
_CLOSED = OpenApiResponse(
    ErrorSerializer, description="The study is not open, or does not allow revising."
)


def _problem(exc: answers.AnswerError) -> Response:
    return Response({"detail": str(exc)}, status=exc.status)


@extend_schema(
    operation_id="reading_answers_save",
    description="Autosave: the whole answer set of the presentation, idempotent.",
    parameters=[_TOKEN],
    request=AnswersInputSerializer,
    responses={
        200: AnswersSavedSerializer,
        400: ErrorSerializer,
        404: ErrorSerializer,
        409: _CLOSED,
    },
)
@api_view(["PUT"])
@permission_classes([IsReader])
def save_answers(request: Request, token: str) -> Response:
    presentation = access.presentation_for_reader(request.user, token)
    try:
        saved = answers.save(presentation, request.data)
    except answers.AnswerError as exc:
        return _problem(exc)
    return Response({"saved": True, "complete": saved.complete, "missing": saved.missing})


@extend_schema(
    operation_id="reading_submit",
    description="Marks the case answered once every required question is; says where next.",
    parameters=[_TOKEN],
    request=SubmitInputSerializer,
    responses={
        200: SubmittedSerializer,
        400: SubmitRefusalSerializer,
        404: ErrorSerializer,
        409: SubmitRefusalSerializer,
    },
)
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


@extend_schema(
    operation_id="reading_log",
    parameters=[_TOKEN],
    request=EventsInputSerializer,
    responses={
        204: OpenApiResponse(description="Recorded."),
        400: ErrorSerializer,
        404: ErrorSerializer,
    },
)
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
    # The bytes behind a URL never change: the browser keeps them (the next case's
    # prefetched images) but asks again each time, so nothing is shown after a logout.
    # The tag comes from the URL's random token, never the pixels: both sides alike.
    etag = '"' + hashlib.sha256(f"{token}/{index}".encode()).hexdigest()[:32] + '"'
    if request.headers.get("If-None-Match") == etag:
        response = HttpResponse(status=304)
    else:
        try:
            data = blinded.blinded_file(presentation, side, index)
        except DamagedFile as exc:
            return _damaged_image(presentation, index, exc)
        if data is None:
            raise Http404("No such image.")
        response = HttpResponse(data, content_type="application/dicom")
    response["ETag"] = etag
    response["Cache-Control"] = "private, no-cache"
    return response


def _damaged_image(presentation, index: int, exc: DamagedFile) -> Response:
    """A stored file behind the slice is damaged. The reader learns which image, never which
    file or series (both sides are built from both files, so both sides answer alike); the
    log names the file for the operator."""
    log.error("reading image %s of presentation %s: damaged file %s", index, presentation.pk, exc)
    message = (
        f"Image {index + 1} of this case cannot be shown: a stored file behind it is damaged. "
        "Read and score the case from the other images, and tell the study's researcher."
    )
    return Response({"detail": message}, status=status.HTTP_500_INTERNAL_SERVER_ERROR)
