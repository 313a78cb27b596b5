"""What schema fuzzing (benchmarks/trust/fuzz) found: answers the schema did not describe.

A JSON body that is no object gets a 400 that says what to send, not a 500; every
operation of the published schema documents the 401 and 403 that DRF gives a missing or
refused login; the API answers JSON also when Django refuses a request before any view
(no route, an unreadable body), and 405 to a method it does not take.
"""

from __future__ import annotations

import json
import uuid

import pytest
from django.test import Client
from django.urls import reverse

from tests.ingest import upload_client as uc

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("body", [[None, None], "label", 3])
def test_an_upload_started_without_an_object_is_refused(researcher, token_client, body):
    response = token_client(researcher).post(reverse("api-uploads"), body, format="json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


def test_a_label_that_is_no_text_is_refused(researcher, token_client):
    response = token_client(researcher).post(
        reverse("api-uploads"), {"label": [None, None]}, format="json"
    )
    assert response.status_code == 400


def test_an_ingest_without_an_object_is_refused(researcher, token_client):
    api = token_client(researcher)
    session = uc.start(api, "case")
    response = api.post(reverse("api-upload-ingest", args=[session["id"]]), [1], format="json")
    assert response.status_code == 400
    assert "JSON object" in response.json()["detail"]


def test_every_operation_documents_the_auth_errors(researcher, token_client):
    response = token_client(researcher).get(reverse("api-schema"), {"format": "json"})
    schema = json.loads(response.content)
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            for code in ("401", "403"):
                content = operation["responses"][code]["content"]["application/json"]
                assert content["schema"] == {"$ref": "#/components/schemas/Error"}, (path, method)


def test_an_api_url_no_route_matches_answers_json(researcher, client_for):
    response = client_for(researcher).get("/api/training-jobs/9223372036854775808/")
    assert response.status_code == 404
    assert response.json()["detail"]


def test_a_page_no_route_matches_is_still_a_page(researcher, client_for):
    response = client_for(researcher).get("/no-such-page/")
    assert response.status_code == 404
    assert response["Content-Type"].startswith("text/html")


def test_an_api_request_django_cannot_read_answers_json(researcher, token_client):
    fields = "&".join(["a=1"] * 1001)  # past DATA_UPLOAD_MAX_NUMBER_FIELDS
    response = token_client(researcher).post(
        reverse("api-uploads"), fields, content_type="application/x-www-form-urlencoded"
    )
    assert response.status_code == 400
    assert response.json()["detail"]


def test_a_post_to_a_chunk_url_is_a_405_for_a_session_login(researcher):
    client = Client(enforce_csrf_checks=True)
    client.force_login(researcher)
    client.cookies["csrftoken"] = "a" * 32
    url = reverse("api-upload-chunk", args=[uuid.uuid4(), 1, 0])
    response = client.post(
        url, b"raw", content_type="application/octet-stream", HTTP_X_CSRFTOKEN="a" * 32
    )
    assert response.status_code == 405


def test_job_progress_of_an_unknown_kind_is_refused(researcher, token_client):
    response = token_client(researcher).get(reverse("api-jobs-progress"), {"kind": "AAA"})
    assert response.status_code == 400


def test_an_announced_file_name_that_is_no_text_is_refused(researcher, token_client):
    api = token_client(researcher)
    session = uc.start(api, "case")
    url = reverse("api-upload-files", args=[session["id"]])
    response = api.post(url, {"files": [{"name": {}, "size": 0}]}, format="json")
    assert response.status_code == 400
    assert "name" in response.json()["detail"]


@pytest.mark.parametrize("query", [{"state": "AAA"}, {"case": ""}, {"case": "x"}])
def test_a_job_filter_that_is_no_state_or_id_is_refused(researcher, token_client, query):
    response = token_client(researcher).get(reverse("api-jobs"), query)
    assert response.status_code == 400
