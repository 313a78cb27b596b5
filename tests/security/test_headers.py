"""A Content-Security-Policy on every page and no caching of what one user is shown."""

from __future__ import annotations

import pytest
from django.urls import reverse

pytestmark = [pytest.mark.django_db, pytest.mark.security]


@pytest.mark.parametrize("name", ["login", "dashboard", "case-list", "api-me"])
def test_csp_and_private_no_store(name, researcher, client_for):
    client = client_for(None if name == "login" else researcher)
    response = client.get(reverse(name), follow=False)
    assert response.status_code == 200
    csp = response["Content-Security-Policy"]
    assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert {"private", "no-store"} <= {v.strip() for v in response["Cache-Control"].split(",")}


def test_dicomweb_answers_are_not_cached(researcher, client_for):
    response = client_for(researcher).get(reverse("dicomweb:studies"))
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
