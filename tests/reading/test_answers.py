"""Scores: idempotent, checked, complete before submit, refused once closed."""

from __future__ import annotations

import pytest
from django.urls import reverse

from reader_study.models import Presentation, Score
from reader_study.studies import lifecycle
from tests.studies.factories import all_scores

pytestmark = [pytest.mark.django_db, pytest.mark.study]


@pytest.fixture
def mine(world, client_for):
    reader = world["readers"][0]
    presentation = Presentation.objects.filter(reader__user=reader).order_by("position").first()
    return presentation, client_for(reader)


def _put(client, presentation, body):
    url = reverse("api-reading-answers", args=[presentation.token])
    return client.put(url, body, content_type="application/json")


def _submit(client, presentation, seconds=12.5):
    url = reverse("api-reading-submit", args=[presentation.token])
    return client.post(url, {"seconds": seconds}, content_type="application/json")


def test_resending_updates_one_row_per_question(mine):
    presentation, client = mine
    first = _put(client, presentation, {"scores": all_scores(3)[:2], "seconds": 4})
    assert first.status_code == 200 and first.json()["complete"] is False
    assert "Sharpness, A" in first.json()["missing"]
    for _ in range(2):  # a retried request changes nothing more
        again = _put(
            client, presentation, {"scores": all_scores(5), "seconds": 9, "preference": "A"}
        )
        assert again.json() == {"saved": True, "complete": True, "missing": []}
    assert Score.objects.filter(presentation=presentation).count() == 6
    assert set(Score.objects.values_list("value", flat=True)) == {5}
    _put(client, presentation, {"scores": [], "seconds": 2})  # time never goes back
    presentation.refresh_from_db()
    assert presentation.seconds == 9


@pytest.mark.parametrize(
    "body, message",
    [
        ({"scores": [{"side": "A", "criterion": "noise", "value": 6}]}, "scores[1].value: 6"),
        ({"scores": [{"side": "A", "criterion": "noise", "value": "3"}]}, "scores[1].value"),
        ({"scores": [{"side": "C", "criterion": "noise", "value": 3}]}, "scores[1].side"),
        ({"scores": [{"side": "A", "criterion": "colour", "value": 3}]}, "'colour' is not"),
        ({"preference": "left"}, "preference"),
        ({"seconds": -1}, "seconds"),
    ],
)
def test_bad_answers_are_refused_with_the_field(mine, body, message):
    presentation, client = mine
    response = _put(client, presentation, body)
    assert response.status_code == 400 and message in response.json()["detail"]
    assert not Score.objects.exists()


def test_submit_needs_every_answer_then_leads_on(mine):
    presentation, client = mine
    incomplete = _submit(client, presentation)
    assert incomplete.status_code == 400 and "Image noise, A" in incomplete.json()["missing"]
    _put(client, presentation, {"scores": all_scores()})
    no_preference = _submit(client, presentation)  # the study asks it: "none" is an answer
    assert no_preference.status_code == 400 and no_preference.json()["missing"] == ["Preference"]
    _put(client, presentation, {"scores": all_scores(), "preference": "B", "comment": "ok"})
    done = _submit(client, presentation)
    assert done.status_code == 200
    following = Presentation.objects.get(reader=presentation.reader, position=2)
    assert done.json()["next_url"] == reverse("reading-page", args=[following.token])
    presentation.refresh_from_db()
    assert presentation.answered_at is not None and presentation.seconds == 12.5


def test_the_last_case_leads_to_the_end_screen(mine):
    presentation, client = mine
    for p in Presentation.objects.filter(reader=presentation.reader).order_by("position"):
        _put(client, p, {"scores": all_scores(), "preference": "none"})
        response = _submit(client, p)
    assert response.json()["next_url"] == reverse("reading-done", args=[presentation.study_id])
    assert client.get(response.json()["next_url"]).status_code == 200


def test_a_closed_study_refuses_answers_but_shows_them(mine, world):
    presentation, client = mine
    _put(client, presentation, {"scores": all_scores()})
    lifecycle.close_study(world["study"])
    refused = _put(client, presentation, {"scores": all_scores(1)})
    assert refused.status_code == 409 and "closed" in refused.json()["detail"]
    assert _submit(client, presentation).status_code == 409
    page = client.get(reverse("reading-page", args=[presentation.token]))
    assert page.status_code == 200 and b'"read_only": true' in page.content
    assert set(Score.objects.values_list("value", flat=True)) == {4}


def test_revising_is_refused_when_the_study_forbids_it(mine, world):
    presentation, client = mine
    world["study"].allow_revise = False
    world["study"].save()
    _put(client, presentation, {"scores": all_scores(), "preference": "A"})
    _submit(client, presentation)
    refused = _put(client, presentation, {"scores": all_scores(2)})
    assert refused.status_code == 409 and "revising" in refused.json()["detail"]


def test_interaction_log_is_kept_per_presentation(mine):
    presentation, client = mine
    url = reverse("api-reading-log", args=[presentation.token])
    events = [[120, "slice", "A", 3], [400, "voi", "A", 400, 40], [900, "preset", "liver"]]
    assert client.post(url, {"events": events}, content_type="application/json").status_code == 204
    presentation.refresh_from_db()
    assert presentation.interactions == events
    bad = client.post(url, {"events": "x"}, content_type="application/json")
    assert bad.status_code == 400


def test_a_closed_study_keeps_its_log_but_still_checks_what_is_sent(mine, world):
    presentation, client = mine
    url = reverse("api-reading-log", args=[presentation.token])
    lifecycle.close_study(world["study"])
    ignored = client.post(url, {"events": [[1, "slice", "A", 0]]}, content_type="application/json")
    assert ignored.status_code == 204
    presentation.refresh_from_db()
    assert presentation.interactions == []
    assert client.post(url, {}, content_type="application/json").status_code == 400
