"""Repeated wrong passwords lock the account and the address; staff can unlock."""

from __future__ import annotations

import pytest
from axes.utils import reset
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.conftest import PASSWORD

pytestmark = [pytest.mark.django_db, pytest.mark.security]


def _login(client: Client, username: str, password: str, url: str | None = None, **extra):
    return client.post(
        url or reverse("login"), {"username": username, "password": password}, **extra
    )


def test_five_failures_lock_the_account_even_for_the_right_password(researcher, settings):
    client = Client()
    for _ in range(settings.AXES_FAILURE_LIMIT - 1):
        assert _login(client, "rita", "wrong").status_code == 200  # the form again
    locked = _login(client, "rita", "wrong")
    assert locked.status_code == 429
    assert b"Too many failed logins" in locked.content
    right = _login(client, "rita", PASSWORD)
    assert right.status_code == 429 and "_auth_user_id" not in client.session

    # From another address too: the account itself is locked.
    elsewhere = _login(Client(REMOTE_ADDR="10.9.9.9"), "rita", PASSWORD, REMOTE_ADDR="10.9.9.9")
    assert elsewhere.status_code == 429

    reset(username="rita")  # what staff's "unlock" does (admin or axes_reset_username)
    reset(ip="127.0.0.1")
    assert _login(client, "rita", PASSWORD).status_code == 302


def test_one_address_guessing_many_accounts_is_locked(researcher, reader, settings):
    client = Client()
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"guess{n}", "wrong")
    assert _login(client, "rex", PASSWORD).status_code == 429


def test_admin_login_is_throttled_too(settings):
    User.objects.create_superuser("boss", password=PASSWORD)
    client = Client()
    url = reverse("admin:login")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        _login(client, "boss", "wrong", url=url)
    assert _login(client, "boss", PASSWORD, url=url).status_code == 429


def test_behind_a_trusted_proxy_each_client_is_counted_apart(researcher, reader, settings):
    settings.LDCT_TRUSTED_PROXIES = 1
    proxy = {"REMOTE_ADDR": "10.0.0.1"}
    guesser = Client(HTTP_X_FORWARDED_FOR="203.0.113.7", **proxy)
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(guesser, f"guess{n}", "wrong")
    assert _login(guesser, "rex", PASSWORD).status_code == 429  # that client is locked
    # Another client behind the same proxy is not, and a forged left-hand entry is no escape.
    colleague = Client(HTTP_X_FORWARDED_FOR="198.51.100.4", **proxy)
    assert _login(colleague, "rex", PASSWORD).status_code == 302
    forged = Client(HTTP_X_FORWARDED_FOR="1.2.3.4, 203.0.113.7", **proxy)
    assert _login(forged, "rita", PASSWORD).status_code == 429


def test_without_trusted_proxies_a_forwarded_header_is_ignored(researcher, settings):
    client = Client(HTTP_X_FORWARDED_FOR="198.51.100.9")
    for n in range(settings.AXES_FAILURE_LIMIT):
        _login(client, f"guess{n}", "wrong")
    other_header = Client(HTTP_X_FORWARDED_FOR="198.51.100.10")
    assert _login(other_header, "rita", PASSWORD).status_code == 429  # same REMOTE_ADDR
