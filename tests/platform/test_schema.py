"""The OpenAPI 3 schema of the REST API: served to logged-in users, valid, complete."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver
from openapi_spec_validator import validate

pytestmark = pytest.mark.django_db


def _schema(client):
    response = client.get("/api/schema/?format=json")
    assert response.status_code == 200, response.content[:300]
    return response.json()


def test_schema_is_for_logged_in_users(client_for, reader):
    assert client_for(None).get("/api/schema/").status_code in (401, 403)
    assert client_for(reader).get("/api/schema/").status_code == 200
    docs = client_for(reader).get("/api/schema/docs/")
    assert docs.status_code == 200 and b"swagger" in docs.content.lower()


def test_schema_is_valid_openapi(client_for, researcher):
    schema = _schema(client_for(researcher))
    validate(schema)
    assert schema["openapi"].startswith("3.")


def _api_routes() -> set[str]:
    """Every /api/ route of the URLconf, as an OpenAPI path template."""
    found = set()

    def walk(patterns, prefix=""):
        for pattern in patterns:
            route = prefix + str(pattern.pattern)
            if isinstance(pattern, URLResolver):
                walk(pattern.url_patterns, route)
            elif isinstance(pattern, URLPattern) and route.startswith("api/"):
                found.add("/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", route))

    walk(get_resolver().url_patterns)
    return {r for r in found if not r.startswith("/api/schema")}


def test_every_api_url_is_in_the_schema(client_for, researcher):
    paths = set(_schema(client_for(researcher))["paths"])
    assert _api_routes() - paths == set()


def test_schema_builds_without_warnings(tmp_path):
    call_command("spectacular", "--fail-on-warn", "--validate", "--file", str(tmp_path / "s.yaml"))
