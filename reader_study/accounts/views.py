"""Server-rendered pages: the role-aware home and each role's landing page."""

from __future__ import annotations

from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_not_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET

from reader_study.access import is_reader, is_researcher, researcher_required
from reader_study.accounts.sessions import end_sessions


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


class LogoutView(auth_views.LogoutView):
    """Logs out (POST only); with `everywhere`, every other browser of the user too."""

    def post(self, request, *args, **kwargs):
        if request.POST.get("everywhere") and request.user.is_authenticated:
            end_sessions(request.user)
        return super().post(request, *args, **kwargs)
