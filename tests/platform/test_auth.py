"""Login, logout, password change, token authentication and the shared layout."""

from __future__ import annotations

import re

import pytest
from django.core.management import call_command
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from tests.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def csrf_client() -> Client:
    return Client(enforce_csrf_checks=True)


def csrf_token_of(response) -> str:
    return re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)[1].decode()


def test_login_with_the_form_lands_on_the_role_page(researcher):
    client = csrf_client()
    page = client.get(reverse("login"))
    assert page.status_code == 200
    response = client.post(
        reverse("login"),
        {"username": "rita", "password": PASSWORD, "csrfmiddlewaretoken": csrf_token_of(page)},
        follow=True,
    )
    assert response.redirect_chain[-1][0] == reverse("dashboard")
    assert b"Dashboard" in response.content


def test_wrong_password_is_refused_with_a_message(researcher):
    client = csrf_client()
    page = client.get(reverse("login"))
    response = client.post(
        reverse("login"),
        {"username": "rita", "password": "nope", "csrfmiddlewaretoken": csrf_token_of(page)},
    )
    assert response.status_code == 200
    assert b"didn't match" in response.content
    assert client.get(reverse("dashboard")).status_code == 302


def test_login_returns_to_the_page_asked_for(reader):
    client = Client()
    first = client.get(reverse("worklist"))
    assert first["Location"] == f"{reverse('login')}?next={reverse('worklist')}"
    response = client.post(
        first["Location"], {"username": "rex", "password": PASSWORD, "next": reverse("worklist")}
    )
    assert response["Location"] == reverse("worklist")


def test_logout_is_a_post_and_ends_the_session(client_for, reader):
    client = client_for(reader)
    assert client.get(reverse("worklist")).status_code == 200
    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))
    assert response["Location"] == reverse("login")
    assert client.get(reverse("worklist")).status_code == 302


def test_password_change(client_for, reader):
    client = client_for(reader)
    new = "a-brand-new-passphrase-42"
    response = client.post(
        reverse("password_change"),
        {"old_password": PASSWORD, "new_password1": new, "new_password2": new},
    )
    assert response["Location"] == reverse("password_change_done")
    reader.refresh_from_db()
    assert reader.check_password(new)


def test_token_from_the_management_command_authenticates_a_script(reader, capsys):
    call_command("drf_create_token", "rex")
    key = Token.objects.get(user=reader).key
    assert key in capsys.readouterr().out
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {key}")
    response = client.get(reverse("api-me"))
    assert response.status_code == 200
    assert response.json() == {"username": "rex", "roles": ["reader"]}


def test_bad_token_gets_401():
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-token")
    response = client.get(reverse("api-me"))
    assert response.status_code == 401
    assert "Invalid token" in response.json()["detail"]


def test_layout_loads_the_built_bundle(client_for, researcher):
    page = client_for(researcher).get(reverse("dashboard")).content.decode()
    scripts = re.findall(r'<script type="module"[^>]* src="([^"]+)"', page)
    styles = re.findall(r'<link\s+rel="stylesheet" href="([^"]+)"', page)
    assert scripts and styles
    client = client_for(researcher)
    for url in scripts + styles:
        response = client.get(url)
        assert response.status_code == 200, url
        body = b"".join(response.streaming_content)
        assert len(body) > 0


def test_seed_demo_is_idempotent_and_prints_logins(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    out = capsys.readouterr().out
    assert "researcher" in out and "reader1" in out and "reader2" in out
    from django.contrib.auth.models import User

    assert User.objects.filter(username__in=["researcher", "reader1", "reader2"]).count() == 3
    # Through the login page, as a person logs in (the lockout backend needs the request).
    response = Client().post(reverse("login"), {"username": "reader2", "password": "reader2-demo"})
    assert response.status_code == 302
