"""Shared fixtures: users in each role, logged-in clients and API clients."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from reader_study.access import READER, RESEARCHER, assign_role

PASSWORD = "correct-horse-battery-staple"


def make_user(username: str, role: str | None) -> User:
    user = User.objects.create_user(username=username, password=PASSWORD)
    if role:
        assign_role(user, role)
    return user


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    """Role fixtures create users with passwords; PBKDF2 would dominate many tests."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def researcher(db) -> User:
    return make_user("rita", RESEARCHER)


@pytest.fixture
def reader(db) -> User:
    return make_user("rex", READER)


@pytest.fixture
def roleless(db) -> User:
    return make_user("nora", None)


@pytest.fixture
def client_for():
    """A browser-like client logged in as the given user (None: anonymous)."""

    def build(user: User | None) -> Client:
        client = Client()
        if user is not None:
            client.force_login(user)
        return client

    return build


@pytest.fixture
def token_client():
    """An API client that authenticates like a script: `Authorization: Token ...`."""

    def build(user: User) -> APIClient:
        token, _ = Token.objects.get_or_create(user=user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
        return client

    return build


def pytest_addoption(parser):
    parser.addoption(
        "--require-services",
        action="store_true",
        help="fail instead of skipping when Postgres or Redis is not reachable (CI sets it)",
    )
