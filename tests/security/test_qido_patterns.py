"""QIDO wildcards are matched in bounded time whatever the pattern; values are bounded."""

from __future__ import annotations

import fnmatch
import time

import pytest
from django.urls import reverse
from hypothesis import given
from hypothesis import strategies as st

from reader_study.dicomweb.qido import wildcard_match
from tests.jobs.factories import ingest_case

pytestmark = pytest.mark.security

PATTERNS = [
    "*" * 13 + "x",
    "*" * 90 + "x",
    "*a" * 150 + "x",
    "?*" * 100 + "x",
    "*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?*?z",
    "a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*a*b",
]


@given(value=st.text("ab.^", max_size=12), pattern=st.text("ab.^*?", max_size=10))
def test_wildcards_match_like_globbing(value, pattern):
    assert wildcard_match(value, pattern) == fnmatch.fnmatchcase(value, pattern)


@pytest.mark.parametrize("pattern", PATTERNS)
def test_hostile_patterns_take_milliseconds(pattern):
    started = time.perf_counter()
    assert not wildcard_match("a" * 64, pattern)
    assert time.perf_counter() - started < 0.5  # a regex took minutes on these


@pytest.mark.django_db
@pytest.mark.parametrize("key", ["PatientName", "PatientID", "StudyDescription", "AccessionNumber"])
def test_search_with_hostile_wildcards_answers(key, fake_broker, researcher, client_for):
    for n in range(3):
        ingest_case(researcher, f"aaaaaaaaaaaaaaaaaaaaaaaa-{n}", seed=n)
    client = client_for(researcher)
    for pattern in PATTERNS[:4]:
        started = time.perf_counter()
        response = client.get(reverse("dicomweb:studies"), {key: pattern})
        assert response.status_code == 200 and response.json() == []
        assert time.perf_counter() - started < 5


@pytest.mark.django_db
def test_overlong_values_are_refused_naming_the_key(researcher, client_for):
    response = client_for(researcher).get(reverse("dicomweb:studies"), {"PatientName": "a" * 401})
    assert response.status_code == 400
    assert "PatientName" in response.json()["detail"] and "at most 400" in response.json()["detail"]
