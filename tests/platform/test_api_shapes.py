"""What schema fuzzing (benchmarks/trust/fuzz) found: answers the schema did not describe.

A JSON body that is no object gets a 400 that says what to send, not a 500; every
operation of the published schema documents the 401 and 403 that DRF gives a missing or
refused login.
"""

from __future__ import annotations

import json

import pytest
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
