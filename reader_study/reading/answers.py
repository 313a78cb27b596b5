"""Saving a reader's answers: idempotent, checked, and never silently changing the past.

The browser sends every answer given so far with each change (PUT), so a retried request
is harmless: each (presentation, side, criterion) has one row, updated in place; an answer
once given is changed, never removed (a radio button cannot be unset). Answers to a closed
study, or a revision the study does not allow, are refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from reader_study.models import Criterion, Presentation, ReaderStudy, Score, StudyReader

MAX_COMMENT = 5000
MAX_EVENTS = 20000
MAX_EVENT_TEXT = 40  # an event's strings are kinds, sides and preset keys
MAX_SECONDS = 7 * 24 * 3600.0
PREFERENCES = ("A", "B", "none", "")


class AnswerError(ValueError):
    """Refused answers; `status` is the HTTP status, the message says why."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


@dataclass
class Saved:
    complete: bool
    missing: list[str]


def sides_of(study: ReaderStudy) -> tuple[str, ...]:
    """Relative scoring grades B against A: one answer per criterion, on side B."""
    return ("B",) if study.scale == ReaderStudy.Scale.RELATIVE else ("A", "B")


def question_name(criterion: Criterion, side: str, study: ReaderStudy) -> str:
    if study.scale == ReaderStudy.Scale.RELATIVE:
        return f"{criterion.label}, B compared with A"
    return f"{criterion.label}, {side}"


def check_writable(presentation: Presentation) -> None:
    study = presentation.study
    if study.state != ReaderStudy.State.OPEN:
        raise AnswerError(f"The study is {study.state}; answers can no longer change.", 409)
    if presentation.answered_at is not None and not study.allow_revise:
        raise AnswerError("This study does not allow revising a submitted case.", 409)


def save(presentation: Presentation, payload: dict) -> Saved:
    """Stores the answers in `payload` (scores, preference, comment, seconds)."""
    check_writable(presentation)
    if not isinstance(payload, dict):
        raise AnswerError("Send a JSON object with scores, preference, comment and seconds.")
    study = presentation.study
    criteria = {c.key: c for c in study.criteria.all()}
    values = _checked_scores(payload.get("scores", []), criteria, sides_of(study))
    fields = _checked_fields(presentation, payload)
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(presentation)
        # One statement for the whole set (this runs on every click): a new question gets
        # its row, an answered one its new value; the unique constraint is the conflict.
        Score.objects.bulk_create(
            [
                Score(presentation=locked, side=side, criterion=criteria[key], value=value)
                for (side, key), value in values.items()
            ],
            update_conflicts=True,
            unique_fields=["presentation", "side", "criterion"],
            update_fields=["value", "updated_at"],
        )
        seconds = fields.pop("seconds", 0.0)
        for name, value in fields.items():
            setattr(locked, name, value)
        locked.seconds = max(locked.seconds, seconds)  # focused time only grows
        locked.started_at = locked.started_at or now
        locked.updated_at = now
        locked.save()
    return Saved(*_completeness(locked, list(criteria.values())))


def _locked(presentation: Presentation) -> Presentation:
    """The presentation's row and its study's, locked (FOR UPDATE covers the joined row),
    after checking again under the lock that it may still change: a study closed, or the
    case submitted, by a request that raced this one."""
    locked = (
        Presentation.objects.select_for_update().select_related("study").get(pk=presentation.pk)
    )
    check_writable(locked)
    return locked


def _checked_scores(items, criteria: dict[str, Criterion], sides) -> dict:
    if not isinstance(items, list):
        raise AnswerError("scores: a list of {side, criterion, value}.")
    out = {}
    for n, item in enumerate(items, start=1):
        if not isinstance(item, dict):
            raise AnswerError(f"scores[{n}]: an object with side, criterion and value.")
        side, key, value = item.get("side"), item.get("criterion"), item.get("value")
        if side not in sides:
            raise AnswerError(f"scores[{n}].side: {side!r}; expected one of {', '.join(sides)}.")
        criterion = criteria.get(key) if isinstance(key, str) else None
        if criterion is None:
            raise AnswerError(f"scores[{n}].criterion: {key!r} is not a criterion of this study.")
        if isinstance(value, bool) or not isinstance(value, int) or value not in criterion.values:
            raise AnswerError(
                f"scores[{n}].value: {value!r} is not on the {criterion.label} scale "
                f"({criterion.values[0]} to {criterion.values[-1]})."
            )
        out[(side, key)] = value
    return out


def _checked_fields(presentation: Presentation, payload: dict) -> dict:
    study, out = presentation.study, {}
    if "preference" in payload and payload["preference"] is not None:
        preference = payload["preference"]
        if not study.ask_preference or preference not in PREFERENCES:
            raise AnswerError("preference: one of 'A', 'B', 'none' (when the study asks).")
        out["preference"] = preference
    if "comment" in payload and payload["comment"] is not None:
        comment = payload["comment"]
        if not isinstance(comment, str) or len(comment) > MAX_COMMENT:
            raise AnswerError(f"comment: text of at most {MAX_COMMENT} characters.")
        out["comment"] = comment
    if "seconds" in payload:
        out["seconds"] = checked_seconds(payload["seconds"])
    return out


def checked_seconds(value) -> float:
    """The focused reading time sent by the page: a finite, non-negative number (capped)."""
    try:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError
        seconds = float(value)
    except (ValueError, OverflowError):
        seconds = -1.0
    if not math.isfinite(seconds) or seconds < 0:
        raise AnswerError("seconds: the focused reading time, a non-negative number.")
    return min(seconds, MAX_SECONDS)


def completeness(presentation: Presentation) -> tuple[bool, list[str]]:
    presentation.refresh_from_db(fields=["preference"])
    return _completeness(presentation, list(presentation.study.criteria.all()))


def _completeness(presentation: Presentation, criteria: list[Criterion]) -> tuple[bool, list]:
    """(complete, the questions still to answer) of `presentation` as loaded."""
    study = presentation.study
    given = set(presentation.scores.values_list("side", "criterion__key"))
    missing = [
        question_name(c, side, study)
        for c in criteria
        if c.required
        for side in sides_of(study)
        if (side, c.key) not in given
    ]
    if study.ask_preference and not presentation.preference:
        missing.append("Preference")  # "No preference" is an answer; no answer is not
    return not missing, missing


def submit(presentation: Presentation, seconds: float | None = None) -> None:
    """Marks the presentation answered once every required answer is given."""
    check_writable(presentation)
    complete, missing = completeness(presentation)
    if not complete:
        raise AnswerError("Answer every question first: " + "; ".join(missing) + ".")
    now = timezone.now()
    with transaction.atomic():
        locked = _locked(presentation)
        if seconds is not None:
            locked.seconds = max(locked.seconds, checked_seconds(seconds))
        locked.answered_at = locked.answered_at or now
        locked.updated_at = now
        locked.save()
        presentation.answered_at = locked.answered_at
        _mark_session_done(locked.reader, now)


def _mark_session_done(member: StudyReader, now) -> None:
    """Starts the washout when the reader has answered all of session 1. The reader's row is
    locked first, so two last submits that race both see each other's answer."""
    member = StudyReader.objects.select_for_update().get(pk=member.pk)
    if member.session1_done_at is not None:
        return
    if not member.presentations.filter(session=1, answered_at__isnull=True).exists():
        StudyReader.objects.filter(pk=member.pk).update(session1_done_at=now)
        member.session1_done_at = now


def record_events(presentation: Presentation, events) -> None:
    """Appends interaction events ([ms, kind, ...]), bounded per presentation."""
    if not isinstance(events, list) or not all(isinstance(e, list) and e for e in events):
        raise AnswerError("events: a list of [milliseconds, kind, ...] lists.")
    if len(events) > MAX_EVENTS:
        raise AnswerError(f"events: at most {MAX_EVENTS} a request.")
    if presentation.study.state != ReaderStudy.State.OPEN:
        return  # a closed study's record is final
    clean = [[_event_value(v) for v in e[:6]] for e in events if all(_plain(v) for v in e)]
    with transaction.atomic():
        locked = Presentation.objects.select_for_update().get(pk=presentation.pk)
        room = MAX_EVENTS - len(locked.interactions)
        if room > 0:
            locked.interactions = locked.interactions + clean[:room]
            locked.save(update_fields=["interactions"])


def _plain(value) -> bool:
    return isinstance(value, bool | str) or (
        isinstance(value, int | float) and math.isfinite(float(value))
    )


def _event_value(value):
    return value[:MAX_EVENT_TEXT] if isinstance(value, str) else value
