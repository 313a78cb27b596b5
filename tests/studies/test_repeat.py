"""Repeated reading: a second session after the washout, told apart by its number."""

from __future__ import annotations

import datetime as dt

import pytest
from django.urls import reverse

from reader_study.models import Presentation, StudyReader
from reader_study.reading import answers
from tests.studies.factories import all_scores, denoised_cases, make_study, readers

pytestmark = [pytest.mark.django_db, pytest.mark.study]


def _answer_all(presentations):
    for p in presentations:
        answers.save(p, {"scores": all_scores(3), "preference": "none"})
        answers.submit(p)


@pytest.fixture
def repeated(fake_broker, researcher):
    cases, model = denoised_cases(researcher, 4)
    (reader,) = readers(1)
    study = make_study(researcher, cases, model, [reader], repeat_fraction=0.5, washout_days=14)
    return study, reader


def test_session_two_waits_for_the_washout(repeated, client_for):
    study, reader = repeated
    session2 = Presentation.objects.filter(study=study, session=2)
    assert session2.count() == 2  # half of the 4 cases, read again
    client = client_for(reader)
    locked = client.get(reverse("reading-page", args=[session2.first().token]))
    assert locked.status_code == 404  # not before the washout

    _answer_all(Presentation.objects.filter(study=study, session=1))
    done = client.get(reverse("reading-done", args=[study.pk]))
    assert b"second reading after the washout period (14 days)" in done.content

    member = StudyReader.objects.get(study=study, user=reader)
    member.session1_done_at -= dt.timedelta(days=15)
    member.save()
    start = client.get(reverse("reading-start", args=[study.pk]))
    assert start["Location"] == reverse("reading-page", args=[session2.get(position=1).token])


def test_both_readings_are_exported_by_session(repeated, token_client, researcher):
    import io

    import pandas as pd

    study, reader = repeated
    _answer_all(Presentation.objects.filter(study=study, session=1))
    StudyReader.objects.filter(study=study).update(
        session1_done_at=dt.datetime(2020, 1, 1, tzinfo=dt.UTC)
    )
    _answer_all(Presentation.objects.filter(study=study, session=2))
    response = token_client(researcher).get(reverse("api-study-export-csv", args=[study.pk]))
    frame = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))
    assert sorted(frame.session.unique()) == [1, 2]
    assert len(frame[frame.session == 2]) == 2 * 3 * 2
