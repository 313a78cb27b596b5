"""The answer to a request that failed on the server: what happened and what to do next.

Django's own answer is a bare "Server Error (500)" page, for scripts and the reading page's
autosave alike. Here the cause decides the status:
- the database unreachable (restarting, failing over): 503 with Retry-After, nothing of
  the request was saved, and trying again is right (the pages' API helper does);
- the media storage full: 507, nothing of the request was kept;
- anything else: 500.
Machine endpoints (the API, DICOMweb, the reading page's images) get JSON `{"detail": ...}`
like every other error of theirs; pages get a short page. Neither touches the database:
it may be the very thing that is down.
"""

from __future__ import annotations

import errno
import sys

from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

from reader_study.middleware import MACHINE_PREFIXES

MACHINE_PATHS = (*MACHINE_PREFIXES, "/reading/images/")
RETRY_AFTER_SECONDS = 5

DATABASE_DOWN = (
    "The database is not reachable right now (it may be restarting); nothing of this "
    "request was saved. Try again in a moment."
)
STORAGE_FULL = (
    "The server's media storage is full (no space left on device); nothing of this request "
    "was kept. Tell the operator, and try again once space is freed."
)
UNEXPECTED = (
    "The server failed on this request; the operator's log has the details. Try again, "
    "and tell the operator if it keeps failing."
)


def describe(exc: BaseException | None) -> tuple[int, str]:
    """(HTTP status, message) for an exception no view handled."""
    if isinstance(exc, OperationalError | InterfaceError):
        return 503, DATABASE_DOWN
    if is_disk_full(exc):
        return 507, STORAGE_FULL
    return 500, UNEXPECTED


def is_disk_full(exc: BaseException | None) -> bool:
    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: Django calls it while handling the exception, so exc_info names it."""
    status, message = describe(sys.exc_info()[1])
    if request.path_info.startswith(MACHINE_PATHS):
        response: HttpResponse = JsonResponse({"detail": message}, status=status)
    else:
        page = render_to_string("server_error.html", {"status": status, "message": message})
        response = HttpResponse(page, status=status)
    if status == 503:
        response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    return response
