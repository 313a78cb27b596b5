"""Registry upload, launching jobs and training through the pages and the API."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import reverse

from reader_study.access import RESEARCHER
from reader_study.models import DenoiseJob, DenoiserModel, JobState, TrainingJob
from tests.conftest import make_user
from tests.jobs.factories import ingest_case, register_tiny, tiny_checkpoint_bytes

pytestmark = pytest.mark.django_db


def _upload(name="uploaded", version="", data=None):
    return SimpleUploadedFile(f"{name}.pt", data or tiny_checkpoint_bytes(name, "7"))


def test_page_upload_verifies_the_checkpoint(fake_broker, client_for, researcher):
    client = client_for(researcher)
    # A researcher's form has no make-default choice; one posted anyway is not honoured.
    ok = client.post(reverse("model-upload"), {"checkpoint": _upload(), "make_default": "on"})
    assert ok.status_code == 302
    model = DenoiserModel.objects.get()
    assert (model.name, model.version, model.is_default) == ("uploaded", "7", False)
    assert len(model.sha256) == 64 and model.created_by == researcher

    bad = client.post(
        reverse("model-upload"), {"checkpoint": _upload("junk", data=b"not a torch file" * 50)}
    )
    assert bad.status_code == 400
    assert b"junk.pt is not a usable denoiser checkpoint" in bad.content
    again = client.post(reverse("model-upload"), {"checkpoint": _upload()})
    assert b"already registered; choose a new version" in again.content
    assert DenoiserModel.objects.count() == 1
    listing = client.get(reverse("model-list"))
    assert b"uploaded</strong> 7" in listing.content


def test_api_upload_and_default(fake_broker, token_client, researcher):
    api = token_client(researcher)
    created = api.post(
        reverse("api-models"), {"checkpoint": _upload(), "version": "2"}, format="multipart"
    )
    assert created.status_code == 201 and created.json()["version"] == "2"
    refused = api.post(
        reverse("api-models"), {"checkpoint": _upload(data=b"x" * 99)}, format="multipart"
    )
    assert refused.status_code == 400 and "not a usable" in refused.json()["detail"]
    other = register_tiny("someone-elses", default=False)
    mine = DenoiserModel.objects.get(name="uploaded")
    for model in (other, mine):  # the site-wide default is staff's to choose
        denied = api.post(reverse("api-model-default", args=[model.pk]))
        assert denied.status_code == 403 and "Only staff" in denied.json()["detail"]
    staff = User.objects.create_user("stella", is_staff=True)
    made = token_client(staff).post(reverse("api-model-default", args=[mine.pk]))
    assert made.json()["is_default"] is True
    assert DenoiserModel.objects.filter(is_default=True).get() == mine


def test_launch_several_cases_with_any_model(
    fake_broker, client_for, researcher, django_capture_on_commit_callbacks
):
    default = register_tiny("default-model")
    other = register_tiny("second", default=False)
    with django_capture_on_commit_callbacks(execute=True):
        cases = [ingest_case(researcher, f"c{i}", seed=i) for i in range(2)]
        response = client_for(researcher).post(
            reverse("job-launch"), {"cases": [c.pk for c in cases], "model": other.pk}
        )
    assert response.status_code == 302
    assert DenoiseJob.objects.filter(denoiser_model=other).count() == 2
    assert DenoiseJob.objects.filter(denoiser_model=default).count() == 2  # from ingest
    assert len(fake_broker.sent) == 4
    page = client_for(researcher).get(reverse("job-list"))
    assert page.status_code == 200 and b"data-live-jobs" in page.content
    assert page.content.count(b"data-job-id=") == 4


def test_api_jobs_are_owner_scoped(fake_broker, token_client, researcher):
    register_tiny()
    case = ingest_case(researcher, "mine")
    stranger = make_user("otto", RESEARCHER)
    api = token_client(stranger)
    refused = api.post(reverse("api-jobs"), {"cases": [case.pk]}, format="json")
    assert (
        refused.status_code == 400
        and f"no ready case of yours with id {case.pk}" in (refused.json()["detail"])
    )
    assert api.get(reverse("api-jobs")).json()["results"] == []
    mine = token_client(researcher)
    created = mine.post(reverse("api-jobs"), {"cases": [case.pk]}, format="json")
    assert created.status_code == 201 and created.json()["results"][0]["outcome"] == (
        "already queued"
    )
    progress = mine.get(reverse("api-jobs-progress")).json()["results"]
    assert [(p["case"]["label"], p["state"]) for p in progress] == [("mine", "queued")]


def test_api_training_validation_and_launch(
    fake_broker, token_client, researcher, django_capture_on_commit_callbacks
):
    register_tiny()
    low, normal = ingest_case(researcher, "ld"), ingest_case(researcher, "nd", seed=3)
    api = token_client(researcher)
    url = reverse("api-training-jobs")
    body = {"name": "mine", "low_dose_cases": [low.pk], "normal_dose_cases": [normal.pk]}
    bad = api.post(url, {**body, "options": {"epochz": 3}}, format="json")
    assert bad.status_code == 400 and "Unknown training options: epochz" in bad.json()["detail"]
    bad = api.post(url, {**body, "options": {"epochs": 0}}, format="json")
    assert "epochs must be between 1 and 500" in bad.json()["detail"]
    same = api.post(url, {**body, "normal_dose_cases": [low.pk]}, format="json")
    assert "both low-dose and normal-dose" in same.json()["detail"]
    with django_capture_on_commit_callbacks(execute=True):
        ok = api.post(url, {**body, "options": {"epochs": 2}}, format="json")
    assert ok.status_code == 201
    job = TrainingJob.objects.get()
    assert job.options["epochs"] == 2 and job.state == JobState.QUEUED
    assert fake_broker.sent[-1][1] == [job.pk]
    cancelled = api.post(reverse("api-training-job-cancel", args=[job.pk]))
    assert cancelled.json()["state"] == "cancelled"


def test_training_page_shows_epochs(fake_broker, client_for, researcher):
    register_tiny()
    case = ingest_case(researcher, "ld")
    job = TrainingJob.objects.create(owner=researcher, name="shown", options={"epochs": 2})
    job.low_dose_cases.set([case])
    job.history = [
        {"kind": "iteration", "epoch": 1, "iteration": 1, "losses": {"total": 1.5}},
        {"kind": "epoch", "epoch": 1, "iteration": 3, "metrics": {"psnr": 31.25}, "best": True},
    ]
    job.save()
    page = client_for(researcher).get(reverse("training-detail", args=[job.pk]))
    assert page.status_code == 200
    assert b"31.250" in page.content and b"data-training-chart" in page.content
    form = client_for(researcher).get(reverse("training-launch"))
    assert b"Low-dose cases" in form.content and b"ld" in form.content
