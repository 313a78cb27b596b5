"""A study's life: draft (set up), open (presentations stored, readers read), closed.

What readers answer can never be silently changed: criteria, cases and options are
locked once the study opens; readers can still be added (only their presentations are made).
"""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone

from reader_study.models import Presentation, ReaderStudy, StudyCase, StudyReader
from reader_study.studies import design


class StudyError(ValueError):
    """The request cannot be done; the message says why and what to do (HTTP 400)."""

    status = 400


class StudyConflict(StudyError):
    """The study's state forbids it now (locked after opening, not ready to open): 409."""

    status = 409


def require_draft(study: ReaderStudy, what: str) -> None:
    if not study.is_draft:
        raise StudyConflict(
            f"{what} cannot change once the study is {study.state}: readers' answers refer "
            "to them. Copy the study to change its set-up."
        )


def missing_series(study: ReaderStudy) -> list[str]:
    """One sentence per case that lacks a series the comparison needs."""
    problems = []
    for entry in study.study_cases.select_related("case"):
        reference, test = study.series_pair(entry.case)
        for series, name in ((reference, "reference"), (test, "test")):
            if series is None:
                problems.append(_missing(study, entry.case.label, name))
        if reference and test and reference.num_instances != test.num_instances:
            problems.append(
                f"case {entry.case.label}: its two series have {reference.num_instances} and "
                f"{test.num_instances} slices; both sides must show the same slices"
            )
        elif reference and (entry.slice_stop or 0) > _slice_count(reference):
            problems.append(
                f"case {entry.case.label}: slice range {entry.slice_start}-{entry.slice_stop} "
                f"goes past its {_slice_count(reference)} slices"
            )
    return problems


def _slice_count(series) -> int:
    return sum(max(1, n) for n in series.instances.values_list("number_of_frames", flat=True))


def _missing(study: ReaderStudy, label: str, which: str) -> str:
    if which == "reference" and study.comparison_model is None:
        return f"case {label}: no original series"
    model = study.denoiser_model
    if which == "test" and study.comparison_model is not None:
        model = study.comparison_model
    return (
        f"case {label}: no series denoised with {model.name} {model.version} yet "
        "(run a denoising job for it first)"
    )


def check_ready(study: ReaderStudy) -> None:
    """StudyError naming everything that keeps the study from opening."""
    problems = []
    if not study.criteria.exists():
        problems.append("no criteria")
    if not study.study_cases.filter(is_training=False).exists():
        problems.append("no cases (besides training cases)")
    if not study.readers.exists():
        problems.append("no readers")
    problems += missing_series(study)
    if problems:
        raise StudyConflict("The study cannot open: " + "; ".join(problems) + ".")


def open_study(study: ReaderStudy) -> int:
    """Creates every reader's presentations and opens the study; returns how many."""
    with transaction.atomic():
        study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
        require_draft(study, "A study's state")
        check_ready(study)
        created = sum(_create_presentations(study, r) for r in study.readers.all())
        study.state, study.opened_at = ReaderStudy.State.OPEN, timezone.now()
        study.save(update_fields=["state", "opened_at"])
    return created


def close_study(study: ReaderStudy) -> None:
    """Closes the study; a save or submit holding the study's row finishes first, and every
    later one sees it closed (reading.answers locks the same row)."""
    with transaction.atomic():
        locked = ReaderStudy.objects.select_for_update().get(pk=study.pk)
        if locked.state != ReaderStudy.State.OPEN:
            raise StudyConflict(f"Only an open study can be closed; this one is {locked.state}.")
        locked.state, locked.closed_at = ReaderStudy.State.CLOSED, timezone.now()
        locked.save(update_fields=["state", "closed_at"])
    study.state, study.closed_at = locked.state, locked.closed_at


def add_reader(study: ReaderStudy, user) -> StudyReader:
    """Adds a reader (idempotent); in an open study, creates only their presentations."""
    if study.state == ReaderStudy.State.CLOSED:
        raise StudyError("The study is closed; no reader can be added.")
    with transaction.atomic():
        study = ReaderStudy.objects.select_for_update().get(pk=study.pk)
        member = study.readers.filter(user=user).first()
        if member is not None:
            return member
        index = study.readers.count()
        member = StudyReader.objects.create(
            study=study, user=user, index=index, pseudonym=f"R{index + 1}"
        )
        if study.state == ReaderStudy.State.OPEN:
            _create_presentations(study, member)
    return member


def remove_reader(study: ReaderStudy, member: StudyReader) -> None:
    require_draft(study, "The readers who have presentations")
    with transaction.atomic():
        member.delete()
        # Indexes stay dense so the side balance holds for whoever is added next.
        for n, other in enumerate(study.readers.order_by("index")):
            if other.index != n:
                StudyReader.objects.filter(pk=other.pk).update(index=n, pseudonym=f"R{n + 1}")


def _create_presentations(study: ReaderStudy, member: StudyReader) -> int:
    entries = list(study.study_cases.order_by("position", "pk"))
    main = [i for i, e in enumerate(entries) if not e.is_training]
    training = [i for i, e in enumerate(entries) if e.is_training]
    plans = {1: design.session_one(study.seed, main, training, member.index)}
    if study.repeat_fraction > 0:
        plans[2] = design.session_two(study.seed, main, study.repeat_fraction, member.index)
    rows = [
        Presentation(
            study=study,
            reader=member,
            study_case=entries[r.case_index],
            session=session,
            position=r.position,
            test_on_a=r.test_on_a,
        )
        for session, readings in plans.items()
        for r in readings
    ]
    Presentation.objects.bulk_create(rows)
    return len(rows)


def set_cases(study: ReaderStudy, cases, training=(), slice_ranges=None) -> None:
    """The study's cases in order; `training` ones are shown first and left out of results."""
    require_draft(study, "The cases")
    slice_ranges = slice_ranges or {}
    training_ids = {c.pk for c in training}
    with transaction.atomic():
        study.study_cases.all().delete()
        StudyCase.objects.bulk_create(
            StudyCase(
                study=study,
                case=case,
                position=n,
                is_training=case.pk in training_ids,
                slice_start=slice_ranges.get(case.pk, (None, None))[0],
                slice_stop=slice_ranges.get(case.pk, (None, None))[1],
            )
            for n, case in enumerate(cases)
        )
