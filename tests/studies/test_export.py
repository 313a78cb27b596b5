"""The tidy export: one row per score, the right condition per side, readable by pandas."""

from __future__ import annotations

import io
import json

import pandas as pd
import pytest
from django.urls import reverse

from reader_study.models import ExportRecord, Presentation, Score
from reader_study.reading import answers
from reader_study.studies.export import COLUMNS
from tests.studies.factories import all_scores

pytestmark = [pytest.mark.django_db, pytest.mark.study]


def _read_everything(study):
    """Each reader gives the denoised side 4 and the original 2, so conditions are visible."""
    for p in Presentation.objects.filter(study=study):
        denoised = "A" if p.test_on_a else "B"
        scores = [
            {**score, "value": 4 if score["side"] == denoised else 2} for score in all_scores()
        ]
        answers.save(p, {"scores": scores, "preference": denoised, "comment": 'Ünïcode, "q"'})
        answers.submit(p, 10.0)


def test_csv_has_one_row_per_score_with_the_right_condition(world, token_client, researcher):
    study = world["study"]
    _read_everything(study)
    response = token_client(researcher).get(reverse("api-study-export-csv", args=[study.pk]))
    assert response.status_code == 200 and response["Content-Type"].startswith("text/csv")
    frame = pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))
    assert list(frame.columns) == COLUMNS
    assert len(frame) == Score.objects.count() == 2 * 3 * 3 * 2
    assert set(frame.loc[frame.condition == "denoised", "value"]) == {4}
    assert set(frame.loc[frame.condition == "original", "value"]) == {2}
    assert set(frame.preference) == {"denoised"}
    assert set(frame.loc[frame.condition == "denoised", "model"]) == {"tiny"}
    assert frame.loc[frame.condition == "original", "model"].isna().all()
    assert set(frame.comment) == {'Ünïcode, "q"'}
    assert set(frame.reader_pseudonym) == {"R1", "R2"}
    assert frame.value_label.iloc[0] in ("Noise impairs the reading", "Little noise")
    pd.to_datetime(frame.answered_at)  # ISO 8601
    assert ExportRecord.objects.filter(study=study, kind="scores.csv").count() == 1


def test_json_export_has_the_same_rows(world, token_client, researcher):
    study = world["study"]
    _read_everything(study)
    api = token_client(researcher)
    csv_rows = pd.read_csv(
        io.BytesIO(
            b"".join(api.get(reverse("api-study-export-csv", args=[study.pk])).streaming_content)
        )
    )
    data = b"".join(api.get(reverse("api-study-export-json", args=[study.pk])).streaming_content)
    json_rows = pd.read_json(io.BytesIO(data))
    assert len(json_rows) == len(csv_rows)
    assert list(json_rows.value) == list(csv_rows.value)
    description = api.get(reverse("api-study-export-description", args=[study.pk])).json()
    assert description["seed"] == study.seed
    assert [c["key"] for c in description["criteria"]] == ["noise", "sharpness", "confidence"]
    assert description["columns"] == COLUMNS


def test_an_answer_without_scores_is_a_row_not_lost(world, token_client, researcher):
    """A preference and a comment saved before any score (or with every optional criterion
    skipped) is still in the export: one row, unblinded, the score columns empty; also for
    the last presentation in reading order, and in a study with no score at all."""
    from reader_study.studies.export import READING_ORDER

    study = world["study"]
    ordered = list(Presentation.objects.filter(study=study).order_by(*READING_ORDER))
    untouched, middle, last = ordered[0], ordered[1], ordered[-1]
    _read_everything(study)
    Score.objects.filter(presentation__in=[untouched, middle, last]).delete()
    for p in (middle, last):
        denoised = "A" if p.test_on_a else "B"
        answers.save(p, {"scores": [], "preference": denoised, "comment": "only this"})
    Presentation.objects.filter(pk=untouched.pk).update(preference="", comment="", answered_at=None)
    api = token_client(researcher)

    def export() -> pd.DataFrame:
        response = api.get(reverse("api-study-export-csv", args=[study.pk]))
        return pd.read_csv(io.BytesIO(b"".join(response.streaming_content)))

    frame = export()
    alone = frame[frame.criterion.isna()]
    assert len(alone) == 2  # the untouched presentation has nothing to export
    assert set(alone.preference) == {"denoised"} and set(alone.comment) == {"only this"}
    assert set(alone.case) == {p.study_case.case.label for p in (middle, last)}
    assert alone.index[-1] == frame.index[-1]  # the last in reading order comes last
    assert len(frame) == Score.objects.count() + 2
    Score.objects.all().delete()
    answered = Presentation.objects.filter(study=study).exclude(pk=untouched.pk).count()
    assert len(export()) == answered
    data = api.get(reverse("api-study-export-json", args=[study.pk]))
    rows = json.loads(b"".join(data.streaming_content))
    assert len(rows) == answered and rows[0]["value"] is None and rows[0]["criterion"] is None
