"""Every URL checks who is asking: anonymous, reader, researcher, no role."""

from __future__ import annotations

import pytest
from django.urls import URLPattern, URLResolver, get_resolver, reverse

from tests.ingest.test_case_access import CASE_URL_ACCESS
from tests.jobs.test_access import JOB_URL_ACCESS
from tests.studies.test_access import STUDY_URL_ACCESS

# url name -> expected status for (anonymous, reader, researcher).
# "login" means a redirect to the login page. Every named URL of the project
# must appear here, so a new page cannot ship without an access decision.
PAGE_ACCESS = {
    "home": ("login", 302, 302),
    "dashboard": ("login", 403, 200),
    "worklist": ("login", 200, 403),
    "password_change": ("login", 200, 200),
    "password_change_done": ("login", 200, 200),
    "login": (200, 200, 200),
}
API_ACCESS = {
    "api-me": (401, 200, 200),
}
# Logout only takes POST; it is checked in test_auth.py.
NOT_GET_PAGES = {"logout"}
# The schema (YAML or JSON) and its browsable page: checked in tests/platform/test_schema.py.
SCHEMA_PAGES = {"api-schema", "api-docs"}


def project_url_names() -> set[str]:
    names: set[str] = set()

    def walk(patterns, namespace=None):
        for pattern in patterns:
            if isinstance(pattern, URLResolver):
                if pattern.namespace != "admin":
                    walk(pattern.url_patterns, pattern.namespace)
            elif isinstance(pattern, URLPattern) and pattern.name:
                names.add(f"{namespace}:{pattern.name}" if namespace else pattern.name)

    walk(get_resolver().url_patterns)
    return names


def test_every_url_has_an_access_rule():
    # Case, upload and DICOMweb URLs take arguments; their table is checked in
    # tests/ingest/test_case_access.py (owner vs other researcher too).
    covered = set(PAGE_ACCESS) | set(API_ACCESS) | NOT_GET_PAGES | set(CASE_URL_ACCESS)
    covered |= SCHEMA_PAGES
    covered |= set(JOB_URL_ACCESS)  # job, model and training URLs: tests/jobs/test_access.py
    covered |= set(STUDY_URL_ACCESS)  # study and reading URLs: tests/studies/test_access.py
    assert project_url_names() - covered == set()


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(PAGE_ACCESS))
@pytest.mark.parametrize("who", ["anonymous", "reader", "researcher"])
def test_page_access(name, who, client_for, request):
    user = None if who == "anonymous" else request.getfixturevalue(who)
    index = ["anonymous", "reader", "researcher"].index(who)
    expected = PAGE_ACCESS[name][index]
    url = reverse(name)
    response = client_for(user).get(url)
    if expected == "login":
        assert response.status_code == 302
        assert response["Location"].startswith(reverse("login") + "?next=")
    else:
        assert response.status_code == expected


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(API_ACCESS))
@pytest.mark.parametrize("who", ["anonymous", "reader", "researcher"])
def test_api_access(name, who, request):
    from rest_framework.test import APIClient

    client = APIClient()
    if who != "anonymous":
        client.force_authenticate(request.getfixturevalue(who))
    index = ["anonymous", "reader", "researcher"].index(who)
    response = client.get(reverse(name))
    assert response.status_code == API_ACCESS[name][index]
    assert response["Content-Type"].startswith("application/json")


@pytest.mark.django_db
def test_home_sends_each_role_to_its_landing_page(client_for, reader, researcher):
    assert client_for(reader).get("/")["Location"] == reverse("worklist")
    assert client_for(researcher).get("/")["Location"] == reverse("dashboard")


@pytest.mark.django_db
def test_user_without_role_is_told_what_to_do(client_for, roleless):
    response = client_for(roleless).get("/")
    assert response.status_code == 403
    assert b"researcher" in response.content and b"reader" in response.content


@pytest.mark.django_db
def test_unknown_api_path_is_not_a_login_redirect(client_for):
    response = client_for(None).get("/api/does-not-exist/")
    assert response.status_code in (401, 403, 404)


@pytest.mark.django_db
def test_admin_is_for_staff_only(client_for, researcher):
    assert client_for(None).get("/admin/").status_code == 302
    assert client_for(researcher).get("/admin/").status_code == 302
    researcher.is_staff = True
    researcher.is_superuser = True
    researcher.save()
    assert client_for(researcher).get("/admin/").status_code == 200
