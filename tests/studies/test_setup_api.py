"""Setting a study up through the API: clear errors, locks after opening, owner-only access."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reader_study.models import Presentation, ReaderStudy
from tests.conftest import make_user
from tests.jobs.factories import ingest_case
from tests.studies.factories import denoised_cases, readers

pytestmark = [pytest.mark.django_db, pytest.mark.study]


def test_a_study_is_set_up_and_opened_through_the_api(fake_broker, researcher, token_client):
    cases, model = denoised_cases(researcher, 2)
    (r1, r2) = readers(2)
    api = token_client(researcher)
    created = api.post(
        reverse("api-studies"),
        {"title": "Noise study", "denoiser_model": model.pk, "seed": 42, "instructions": "# Hi"},
        format="json",
    )
    assert created.status_code == 201, created.content
    study = created.json()
    assert [c["key"] for c in study["criteria"]] == ["noise", "sharpness", "confidence"]
    assert study["criteria"][0]["levels"][0] == {"value": 1, "anchor": "Unacceptable noise"}
    pk = study["id"]
    cases_url = reverse("api-study-cases", args=[pk])
    assert api.put(cases_url, {"cases": [c.pk for c in cases]}, format="json").status_code == 200
    for user in (r1, r2):
        added = api.post(reverse("api-study-readers", args=[pk]), {"reader": user.username})
        assert added.status_code == 201, added.content
    opened = api.post(reverse("api-study-open", args=[pk]))
    assert opened.status_code == 200, opened.content
    assert opened.json()["state"] == "open" and opened.json()["presentations"] == 4
    assert opened.json()["seed"] == 42


def test_opening_names_the_case_without_a_denoised_series(fake_broker, researcher, token_client):
    cases, model = denoised_cases(researcher, 1)
    bare = ingest_case(researcher, "not-denoised-yet", seed=9)
    api = token_client(researcher)
    pk = api.post(
        reverse("api-studies"), {"title": "t", "denoiser_model": model.pk}, format="json"
    ).json()["id"]
    api.put(reverse("api-study-cases", args=[pk]), {"cases": [cases[0].pk, bare.pk]}, format="json")
    api.post(reverse("api-study-readers", args=[pk]), {"reader": readers(1)[0].username})
    refused = api.post(reverse("api-study-open", args=[pk]))
    assert refused.status_code == 409
    assert "case not-denoised-yet: no series denoised with tiny 1" in refused.json()["detail"]
    assert ReaderStudy.objects.get(pk=pk).state == "draft"
    assert not Presentation.objects.exists()


def test_set_up_locks_when_the_study_opens(world, token_client, researcher):
    study, api = world["study"], token_client(researcher)
    criteria = [{"key": "noise", "label": "Noise", "levels": []}]
    refused = api.put(reverse("api-study-criteria", args=[study.pk]), criteria, format="json")
    assert (
        refused.status_code == 409
        and "cannot change once the study is open" in refused.json()["detail"]
    )
    cases = api.put(reverse("api-study-cases", args=[study.pk]), {"cases": []}, format="json")
    assert cases.status_code == 409
    options = api.patch(reverse("api-study", args=[study.pk]), {"scale": "relative"}, format="json")
    assert options.status_code == 409
    renamed = api.patch(reverse("api-study", args=[study.pk]), {"title": "New"}, format="json")
    assert renamed.status_code == 200
    assert api.delete(reverse("api-study", args=[study.pk])).status_code == 409


def test_a_reader_added_after_opening_gets_only_their_presentations(
    world, researcher, token_client
):
    study = world["study"]
    before = set(Presentation.objects.values_list("pk", "test_on_a", "position"))
    late = readers(1, prefix="late")[0]
    response = token_client(researcher).post(
        reverse("api-study-readers", args=[study.pk]), {"reader": late.username}
    )
    assert response.status_code == 201
    assert (
        set(
            Presentation.objects.exclude(reader__user=late).values_list(
                "pk", "test_on_a", "position"
            )
        )
        == before
    )
    assert Presentation.objects.filter(reader__user=late).count() == 3


@pytest.mark.parametrize(
    "body, message",
    [
        ({"reader": "nobody"}, "no account with username or e-mail 'nobody'"),
        ({"reader": "rita"}, "rita is not a reader account"),
    ],
)
def test_adding_readers_names_the_problem(world, researcher, token_client, body, message):
    response = token_client(researcher).post(
        reverse("api-study-readers", args=[world["study"].pk]), body
    )
    assert response.status_code == 400 and message in response.json()["detail"]


def test_criteria_errors_name_the_criterion_and_field(fake_broker, researcher, token_client):
    cases, model = denoised_cases(researcher, 1)
    api = token_client(researcher)
    pk = api.post(
        reverse("api-studies"), {"title": "t", "denoiser_model": model.pk}, format="json"
    ).json()["id"]
    bad = [{"label": "Noise", "levels": [{"value": v, "anchor": "x"} for v in (1, 2, 3)]}]
    response = api.put(reverse("api-study-criteria", args=[pk]), bad, format="json")
    assert response.status_code == 400
    assert "criteria[1].levels: values must be [1, 2, 3, 4, 5]" in response.json()["detail"]


OWNER_ONLY = [
    ("get", "api-study"),
    ("get", "api-study-progress"),
    ("get", "api-study-export-csv"),
    ("get", "api-study-export-json"),
    ("get", "api-study-export-description"),
    ("get", "api-study-analysis"),
    ("post", "api-study-open"),
    ("post", "api-study-close"),
]
OWNER_PAGES = ["study-detail", "study-edit", "study-criteria", "study-analysis"]


@pytest.mark.parametrize("method, name", OWNER_ONLY)
def test_other_researchers_and_readers_get_404(world, token_client, method, name):
    study = world["study"]
    other = make_user("olga", "researcher")
    url = reverse(name, args=[study.pk])
    assert getattr(token_client(other), method)(url).status_code == 404
    assert getattr(token_client(world["readers"][0]), method)(url).status_code == 404


@pytest.mark.parametrize("name", OWNER_PAGES)
def test_study_pages_are_the_owners(world, client_for, name):
    study = world["study"]
    url = reverse(name, args=[study.pk])
    assert client_for(make_user("olga", "researcher")).get(url).status_code == 404
    assert client_for(world["readers"][0]).get(url).status_code == 404
