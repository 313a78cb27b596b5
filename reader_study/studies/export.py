"""The study's scores as one tidy table: one row per score, unblinded, streamed. A
presentation answered without any score (a preference or a comment alone) is one row with
the score columns empty.

Rows come from the database in chunks and are written as they come, so memory stays flat
however many scores there are. Training cases are practice and are left out.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Iterator

from reader_study.models import ExportRecord, Presentation, ReaderStudy, Score

COLUMNS = [
    "study",
    "reader",
    "reader_pseudonym",
    "session",
    "case",
    "position",
    "side",
    "condition",
    "model",
    "model_version",
    "criterion",
    "value",
    "value_label",
    "preference",
    "comment",
    "started_at",
    "answered_at",
    "seconds",
]
CHUNK = 2000


def record(study: ReaderStudy, user, kind: str) -> None:
    """Notes in the audit log who took which export, and when."""
    ExportRecord.objects.create(study=study, user=user, kind=kind)


def _conditions(study: ReaderStudy) -> dict[bool, tuple[str, str, str]]:
    """{is the test condition: (condition, model name, model version)}."""
    reference, test = study.conditions()
    test_model = study.comparison_model or study.denoiser_model
    if study.comparison_model is None:
        reference_model = ("", "")
    else:
        reference_model = (study.denoiser_model.name, study.denoiser_model.version)
    return {
        True: (test, test_model.name, test_model.version),
        False: (reference, *reference_model),
    }


READING_ORDER = ("reader__index", "session", "position", "pk")


def rows(study: ReaderStudy) -> Iterator[list]:
    """Every score of the study as a list of COLUMNS values, in reading order (and every
    answer without a score, see :func:`_without_scores`).

    Two streams in the same order, merged: the presentations (each formatted once) and
    their scores (four plain columns each), so a row costs no date conversions and memory
    holds one chunk of each, however many scores there are.
    """
    conditions = _conditions(study)
    labels = {
        c.pk: (c.key, {int(level["value"]): level["anchor"] for level in c.levels})
        for c in study.criteria.all()
    }
    counted = {"study": study, "study_case__is_training": False}
    presentations = (
        Presentation.objects.filter(**counted)
        .order_by(*READING_ORDER)
        .values_list(
            "pk",
            "reader__user__username",
            "reader__pseudonym",
            "session",
            "study_case__case__label",
            "position",
            "test_on_a",
            "preference",
            "comment",
            "started_at",
            "answered_at",
            "updated_at",
            "seconds",
        )  # fmt: skip
        .iterator(CHUNK)
    )
    scores = (
        Score.objects.filter(**{f"presentation__{k}": v for k, v in counted.items()})
        .order_by(*(f"presentation__{k}" for k in READING_ORDER), "criterion__position", "side")
        .values_list("presentation_id", "side", "value", "criterion_id")
        .iterator(CHUNK)
    )
    # ``shared`` is None until the current presentation's first score has been written.
    current, shared, test_on_a = next(presentations, None), None, True
    for presentation_id, side, value, criterion_id in scores:
        while current[0] != presentation_id:
            if shared is None:
                yield from _without_scores(study, current, conditions)
            current, shared = next(presentations), None
        if shared is None:
            shared, test_on_a = _presentation_columns(study, current, conditions)
        key, anchors = labels[criterion_id]
        condition, model, version = conditions[(side == "A") == test_on_a]
        yield [
            *shared[:6], side, condition, model, version, key, value, anchors.get(value, ""),
            *shared[6:],
        ]  # fmt: skip
    while current is not None:
        if shared is None:
            yield from _without_scores(study, current, conditions)
        current, shared = next(presentations, None), None


def _without_scores(study, row, conditions) -> Iterator[list]:
    """One row, its score columns empty, for a presentation answered without any score (the
    optional criteria skipped, a preference or a comment alone): no answer is left out."""
    preference, comment, answered = row[7], row[8], row[10]
    if answered or preference or comment:
        shared, _ = _presentation_columns(study, row, conditions)
        yield [*shared[:6], *[None] * 7, *shared[6:]]  # empty cells in CSV, null in JSON


def _presentation_columns(study, row, conditions) -> tuple[list, bool]:
    """The columns every score of one presentation shares (before and after the score's)."""
    (_, reader, pseudonym, session, case, position, test_on_a, preference, comment,
     started, answered, updated, seconds) = row  # fmt: skip
    before = [study.title, reader, pseudonym, session, case, position]
    after = [
        _preference(preference, test_on_a, conditions),
        comment,
        _iso(started),
        _iso(answered),  # empty: autosaved, never submitted
        round(seconds, 1),
    ]
    return before + after, test_on_a


def _preference(preference: str, test_on_a: bool, conditions) -> str:
    """The preferred condition, unblinded ("none" stays; an unanswered one is empty)."""
    if preference in ("A", "B"):
        return conditions[(preference == "A") == test_on_a][0]
    return preference


def _iso(value) -> str:
    return value.isoformat() if value else ""


def csv_chunks(study: ReaderStudy) -> Iterator[bytes]:
    """The CSV, UTF-8 with a header row, a few hundred rows a chunk."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(COLUMNS)
    for n, row in enumerate(rows(study), start=1):
        writer.writerow([_cell(value) for value in row])
        if n % 500 == 0:
            yield buffer.getvalue().encode()
            buffer.seek(0)
            buffer.truncate()
    yield buffer.getvalue().encode()


def _cell(value):
    """Text that a spreadsheet would run as a formula (=, +, -, @) is kept as text."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def json_chunks(study: ReaderStudy) -> Iterator[bytes]:
    """The same rows as a JSON array of objects, streamed."""
    yield b"["
    for n, row in enumerate(rows(study)):
        yield (b"," if n else b"") + json.dumps(dict(zip(COLUMNS, row, strict=True))).encode()
    yield b"]"


def description(study: ReaderStudy) -> dict:
    """What a reviewer needs to read the table: criteria, cases, readers, seed, models."""
    reference, test = study.conditions()
    models = [m for m in (study.denoiser_model, study.comparison_model) if m is not None]
    return {
        "study": study.title,
        "state": study.state,
        "instructions": study.instructions,
        "conditions": {"reference": reference, "test": test},
        "scale": study.scale,
        "seed": study.seed,
        "repeat_fraction": study.repeat_fraction,
        "washout_days": study.washout_days,
        "options": {
            "ask_preference": study.ask_preference,
            "ask_comment": study.ask_comment,
            "allow_revise": study.allow_revise,
            "default_preset": study.default_preset,
            "allow_window_change": study.allow_window_change,
        },
        "criteria": [
            {"key": c.key, "label": c.label, "required": c.required, "levels": c.levels}
            for c in study.criteria.all()
        ],
        "cases": [
            {
                "case": e.case.label,
                "training": e.is_training,
                "slice_start": e.slice_start,
                "slice_stop": e.slice_stop,
            }
            for e in study.study_cases.select_related("case")
        ],
        "readers": [
            {"reader": r.user.username, "reader_pseudonym": r.pseudonym}
            for r in study.readers.select_related("user")
        ],
        "models": [
            {"name": m.name, "version": m.version, "sha256": m.sha256, "model_card": m.model_card}
            for m in models
        ],
        "columns": COLUMNS,
        "opened_at": _iso(study.opened_at),
        "closed_at": _iso(study.closed_at),
    }
