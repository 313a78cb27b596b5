"""DICOMweb tests talk to a live server through the real dicomweb-client library."""

from __future__ import annotations

import pytest
from dicomweb_client.api import DICOMwebClient
from rest_framework.authtoken.models import Token

from tests.server import gunicorn_url  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


@pytest.fixture
def dicomweb_for(live_server):
    """A dicomweb-client for `user`, authenticating like a script: `Authorization: Token`."""

    def build(user) -> DICOMwebClient:
        token, _ = Token.objects.get_or_create(user=user)
        return DICOMwebClient(
            url=f"{live_server.url}/dicomweb",
            headers={"Authorization": f"Token {token.key}"},
        )

    return build
