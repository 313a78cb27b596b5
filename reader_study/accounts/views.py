"""Server-rendered pages: the role-aware home and each role's landing page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import redirect, render
from django.views import defaults
from django.views.decorators.http import require_GET

from reader_study.access import is_reader, is_researcher, researcher_required
from reader_study.accounts.sessions import end_sessions
from reader_study.server_errors import MACHINE_PATHS


@require_GET
def home(request: HttpRequest) -> HttpResponse:
    """Researchers land on their dashboard, readers on their worklist."""
    if is_researcher(request.user):
        return redirect("dashboard")
    if is_reader(request.user):
        return redirect("worklist")
    return render(request, "accounts/no_role.html", status=403)


@require_GET
@researcher_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/dashboard.html")


@login_not_required
def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    message = str(exception) if exception and str(exception) else "You do not have access."
    return render(request, "403.html", {"message": message}, status=403)


# The API, DICOMweb and the reading page's images answer JSON, also when Django refuses a
# request before any view runs: a URL no route matches (an id past 2^63-1, say), or a
# request it cannot read (more form fields than DATA_UPLOAD_MAX_NUMBER_FIELDS).
@login_not_required
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path_info.startswith(MACHINE_PATHS):
        return JsonResponse(
            {"detail": "Not found: no such endpoint, or nothing of yours there."}, status=404
        )
    return defaults.page_not_found(request, exception)


@login_not_required
def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path_info.startswith(MACHINE_PATHS):
        message = "The request could not be read (a malformed body or header, or too many fields)."
        return JsonResponse({"detail": message}, status=400)
    return defaults.bad_request(request, exception)


class LogoutView(auth_views.LogoutView):
    """Logs out (POST only); with `everywhere`, every other browser of the user too."""

    def post(self, request, *args, **kwargs):
        if request.POST.get("everywhere") and request.user.is_authenticated:
            end_sessions(request.user)
        return super().post(request, *args, **kwargs)
