"""Only staff choose the site-wide default model, on every path that sets it."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reader_study.models import DenoiserModel
from reader_study.registry import service as registry
from tests.conftest import make_user
from tests.jobs.factories import register_tiny, tiny_checkpoint_bytes

pytestmark = [pytest.mark.django_db, pytest.mark.security]


@pytest.fixture
def shipped_default(fake_broker):
    return register_tiny("shipped", default=True)


def _checkpoint(name: str) -> SimpleUploadedFile:
    return SimpleUploadedFile(f"{name}.pt", tiny_checkpoint_bytes(name, "1"))


def test_api_upload_with_make_default_is_refused(shipped_default, researcher, token_client):
    api = token_client(researcher)
    response = api.post(
        reverse("api-models"),
        {"checkpoint": _checkpoint("mine"), "make_default": "true"},
        format="multipart",
    )
    assert response.status_code == 403 and "Only staff" in response.json()["detail"]
    assert not DenoiserModel.objects.filter(name="mine").exists()  # nothing stored
    assert DenoiserModel.objects.get(is_default=True) == shipped_default


def test_page_paths_cannot_set_it(shipped_default, researcher, client_for):
    client = client_for(researcher)
    client.post(reverse("model-upload"), {"checkpoint": _checkpoint("mine"), "make_default": "on"})
    mine = DenoiserModel.objects.get(name="mine")
    assert not mine.is_default
    client.post(reverse("model-default", args=[mine.pk]))
    assert DenoiserModel.objects.get(is_default=True) == shipped_default
    assert b"Make default" not in client.get(reverse("model-list")).content


def test_first_model_of_a_researcher_does_not_become_everyones_default(fake_broker, researcher):
    upload = _checkpoint("first")
    model = registry.register_checkpoint(upload, filename="first.pt", created_by=researcher)
    assert not model.is_default


def test_staff_set_it_on_the_page_and_the_api(shipped_default, client_for, token_client):
    staff = User.objects.create_user("stella", is_staff=True)
    other = register_tiny("other", default=False)
    client_for(staff).post(reverse("model-default", args=[other.pk]))
    assert DenoiserModel.objects.get(is_default=True) == other
    token_client(staff).post(reverse("api-model-default", args=[shipped_default.pk]))
    assert DenoiserModel.objects.get(is_default=True) == shipped_default


def test_researchers_do_not_see_each_others_usernames(fake_broker, researcher, token_client):
    colleague = make_user("carla", "researcher")
    data = _checkpoint("carlas")
    registry.register_checkpoint(data, filename="carlas.pt", created_by=colleague)
    listing = token_client(researcher).get(reverse("api-models")).json()["results"]
    entry = next(m for m in listing if m["name"] == "carlas")
    assert entry["created_by"] != "carla" and not entry["uploaded_by_you"]
    assert b'"carla"' not in token_client(researcher).get(reverse("api-models")).content
    own = token_client(colleague).get(reverse("api-models")).json()["results"]
    assert next(m for m in own if m["name"] == "carlas")["created_by"] == "carla"
