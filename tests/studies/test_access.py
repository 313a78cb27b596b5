"""Every study and reading URL against anonymous, the study's reader, its owner, another
researcher and a reader of another study (the table every named URL must be in)."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from reader_study.models import Presentation
from tests.conftest import make_user
from tests.studies.factories import denoised_cases, make_study, readers

pytestmark = [pytest.mark.django_db, pytest.mark.study]
LOGIN = "login"
WHO = ("anonymous", "reader", "owner", "other researcher", "other reader")
# name -> (method, argument, expected per WHO)
STUDY_URL_ACCESS = {
    "reading-start": ("GET", "study", (LOGIN, 302, 403, 403, 404)),
    "reading-done": ("GET", "study", (LOGIN, 200, 403, 403, 404)),
    "reading-page": ("GET", "token", (LOGIN, 200, 403, 403, 404)),
    "reading-image": ("GET", "image", (401, 200, 403, 403, 404)),
    "api-reading-answers": ("PUT", "token", (401, 200, 403, 403, 404)),
    "api-reading-submit": ("POST", "token", (401, 400, 403, 403, 404)),
    "api-reading-log": ("POST", "token", (401, 400, 403, 403, 404)),
    "study-list": ("GET", "", (LOGIN, 403, 200, 200, 403)),
    "study-new": ("GET", "", (LOGIN, 403, 200, 200, 403)),
    "study-detail": ("GET", "study", (LOGIN, 404, 200, 404, 404)),
    "study-edit": ("GET", "study", (LOGIN, 404, 302, 404, 404)),
    "study-criteria": ("GET", "study", (LOGIN, 404, 200, 404, 404)),
    "study-open": ("POST", "study", (LOGIN, 404, 302, 404, 404)),
    "study-close": ("POST", "study", (LOGIN, 404, 302, 404, 404)),
    "study-analysis": ("GET", "study", (LOGIN, 404, 200, 404, 404)),
    "study-report": ("GET", "study", (LOGIN, 404, 200, 404, 404)),
    "study-figure": ("GET", "figure", (LOGIN, 404, 200, 404, 404)),
    "api-studies": ("GET", "", (401, 403, 200, 200, 403)),
    "api-study": ("GET", "study", (401, 404, 200, 404, 404)),
    "api-study-criteria": ("PUT", "study", (401, 404, 409, 404, 404)),
    "api-study-cases": ("PUT", "study", (401, 404, 400, 404, 404)),
    "api-study-readers": ("POST", "study", (401, 404, 400, 404, 404)),
    "api-study-open": ("POST", "study", (401, 404, 409, 404, 404)),
    "api-study-close": ("POST", "study", (401, 404, 200, 404, 404)),
    "api-study-progress": ("GET", "study", (401, 404, 200, 404, 404)),
    "api-study-analysis": ("GET", "study", (401, 404, 200, 404, 404)),
    "api-study-export-csv": ("GET", "study", (401, 404, 200, 404, 404)),
    "api-study-export-json": ("GET", "study", (401, 404, 200, 404, 404)),
    "api-study-export-description": ("GET", "study", (401, 404, 200, 404, 404)),
}


def _args(kind: str, study, presentation) -> list:
    return {
        "": [],
        "study": [study.pk],
        "token": [presentation.token],
        "image": [presentation.token_a, 0],
        "figure": [study.pk, "noise", "distribution"],
    }[kind]


@pytest.mark.parametrize("name", sorted(STUDY_URL_ACCESS))
def test_study_url_access(name, world, researcher, reader, fake_broker):
    method, kind, expected = STUDY_URL_ACCESS[name]
    study = world["study"]
    presentation = Presentation.objects.filter(reader__user=reader).first()
    outsider = readers(1, prefix="outsider")[0]
    cases, model = denoised_cases(researcher, 1, model=world["model"], prefix="elsewhere")
    make_study(researcher, cases, model, [outsider])
    users = (None, reader, researcher, make_user("otto", "researcher"), outsider)
    url = reverse(name, args=_args(kind, study, presentation))
    api = url.startswith("/api/") or name == "reading-image"
    for who, user, want in zip(WHO, users, expected, strict=True):
        client = APIClient() if api else Client()
        if user is not None:
            client.force_login(user)
        response = client.generic(
            method, url, b"{}" if method != "GET" else b"", content_type="application/json"
        )
        if want == LOGIN:
            assert response.status_code == 302, who
            assert response["Location"].startswith(reverse("login") + "?next="), who
        else:
            assert response.status_code == want, (who, getattr(response, "content", b"")[:300])
