"""Where a reader is in a study: the stored sequence, the next case, progress."""

from __future__ import annotations

from dataclasses import dataclass

from reader_study.access import is_available
from reader_study.models import Presentation, StudyReader


def sequence(member: StudyReader) -> list[Presentation]:
    """The reader's presentations in reading order (session 1, then 2), available ones only."""
    rows = (
        member.presentations.select_related("study", "reader", "study_case")
        .order_by("session", "position")
        .all()
    )
    return [p for p in rows if is_available(p)]


def next_unanswered(member: StudyReader, after: Presentation | None = None) -> Presentation | None:
    """The first unanswered presentation after `after` (else from the start)."""
    rows = sequence(member)
    if after is not None:
        keys = [(p.session, p.position) for p in rows]
        start = (after.session, after.position)
        later = [p for p, key in zip(rows, keys, strict=True) if key > start]
        found = next((p for p in later if p.answered_at is None), None)
        if found is not None:
            return found
    return next((p for p in rows if p.answered_at is None), None)


def previous(presentation: Presentation) -> Presentation | None:
    return (
        Presentation.objects.filter(
            reader=presentation.reader,
            session=presentation.session,
            position__lt=presentation.position,
        )
        .order_by("-position")
        .first()
    )


def following(presentation: Presentation) -> Presentation | None:
    """The next presentation in order (for prefetching its images)."""
    rows = sequence(presentation.reader)
    keys = [(p.session, p.position) for p in rows]
    here = (presentation.session, presentation.position)
    return next((p for p, k in zip(rows, keys, strict=True) if k > here), None)


@dataclass
class Progress:
    answered: int
    available: int
    total: int
    waiting_for_washout: int

    @property
    def done(self) -> bool:
        return self.answered >= self.available and not self.waiting_for_washout


def progress(member: StudyReader) -> Progress:
    rows = list(member.presentations.select_related("study", "reader"))
    available = [p for p in rows if is_available(p)]
    return Progress(
        answered=sum(p.answered_at is not None for p in available),
        available=len(available),
        total=len(rows),
        waiting_for_washout=len(rows) - len(available),
    )
