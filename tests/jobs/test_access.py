"""Job, model and training URLs: researchers (owner-scoped) and staff; readers 403.

JOB_URL_ACCESS is part of the project-wide access table (tests/platform/test_access.py
requires every named URL in one of the tables). Each entry is checked here for
anonymous, reader, the owning researcher and another researcher.
"""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from reader_study.access import RESEARCHER
from reader_study.jobs.launch import launch_training
from tests.conftest import make_user
from tests.jobs.factories import ingest_case, register_broken

LOGIN = "login"
# name -> (method, argument, (anonymous, reader, owner, other researcher))
JOB_URL_ACCESS = {
    "job-list": ("GET", "", (LOGIN, 403, 200, 200)),
    "job-launch": ("GET", "", (LOGIN, 403, 200, 200)),
    "job-retry": ("POST", "job", (LOGIN, 403, 302, 404)),
    "job-cancel": ("POST", "job", (LOGIN, 403, 302, 404)),
    "model-list": ("GET", "", (LOGIN, 403, 200, 200)),
    "model-upload": ("POST", "", (LOGIN, 403, 400, 400)),
    "model-default": ("POST", "model", (LOGIN, 403, 302, 302)),
    "training-list": ("GET", "", (LOGIN, 403, 200, 200)),
    "training-launch": ("GET", "", (LOGIN, 403, 200, 200)),
    "training-detail": ("GET", "training", (LOGIN, 403, 200, 404)),
    "training-cancel": ("POST", "training", (LOGIN, 403, 302, 404)),
    "training-retry": ("POST", "training", (LOGIN, 403, 302, 404)),
    "api-jobs": ("GET", "", (401, 403, 200, 200)),
    "api-jobs-progress": ("GET", "", (401, 403, 200, 200)),
    "api-job": ("GET", "job", (401, 403, 200, 404)),
    "api-job-retry": ("POST", "job", (401, 403, 409, 404)),
    "api-job-cancel": ("POST", "job", (401, 403, 200, 404)),
    "api-models": ("GET", "", (401, 403, 200, 200)),
    # Staff choose the site-wide default: not even the uploader may.
    "api-model-default": ("POST", "model", (401, 403, 403, 403)),
    "api-training-jobs": ("GET", "", (401, 403, 200, 200)),
    "api-training-job": ("GET", "training", (401, 403, 200, 404)),
    "api-training-job-cancel": ("POST", "training", (401, 403, 200, 404)),
    "api-training-job-retry": ("POST", "training", (401, 403, 409, 404)),
}
WHO = ("anonymous", "reader", "owner", "other")


@pytest.fixture
def owned(fake_broker, researcher, django_capture_on_commit_callbacks):
    """A queued denoising job, a training job and a model, all of `researcher`."""
    model = register_broken("owned-model")  # access checks never load it
    model.created_by, model.is_default = researcher, True
    model.save()
    with django_capture_on_commit_callbacks(execute=True):
        case = ingest_case(researcher, "owned")
        training = launch_training(researcher, "mine", {"epochs": 1}, [case], [case])
    return {"job": case.denoise_jobs.get().pk, "training": training.pk, "model": model.pk}


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(JOB_URL_ACCESS))
def test_job_url_access(name, owned, researcher, reader):
    method, argument, expected = JOB_URL_ACCESS[name]
    url = reverse(name, args=[owned[argument]] if argument else [])
    users = (None, reader, researcher, make_user("otto", RESEARCHER))
    api = name.startswith("api-")
    # Anonymous and the reader first: their refusals must not change anything.
    for who, user, want in zip(WHO, users, expected, strict=True):
        client = APIClient() if api else Client()
        if user is not None:
            client.force_login(user)
        response = client.generic(method, url)
        if want == LOGIN:
            assert response.status_code == 302, who
            assert response["Location"].startswith(reverse("login") + "?next="), who
        else:
            assert response.status_code == want, (who, response.content[:300])
        if api:
            assert response["Content-Type"].startswith("application/json"), who
