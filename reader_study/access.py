"""Who may see what, in one vocabulary: roles, ownership and study membership.

- A researcher sees the cases, jobs and studies they own; staff see all.
- A reader sees only the studies they are assigned to (once opened), and within them only
  their own presentations, known by opaque tokens.
- What another user owns answers 404, not 403: its existence is not revealed either.
"""

from __future__ import annotations

from datetime import timedelta

from django.db.models import QuerySet
from django.http import Http404
from django.utils import timezone

from reader_study.models import Presentation, ReaderStudy
from reader_study.roles import is_reader, is_researcher  # noqa: F401  (one vocabulary)


def owned_studies(user) -> QuerySet[ReaderStudy]:
    return ReaderStudy.objects.owned_by(user).select_related("denoiser_model", "comparison_model")


def study_of_owner(user, pk: int) -> ReaderStudy:
    study = owned_studies(user).filter(pk=pk).first()
    if study is None:
        raise Http404("No such study of yours.")
    return study


def readable_studies(user) -> QuerySet[ReaderStudy]:
    return ReaderStudy.objects.read_by(user)


def own_presentations(user) -> QuerySet[Presentation]:
    """The presentations `user` reads, in studies that are open or closed (read-only)."""
    if user is None or not user.is_authenticated:
        return Presentation.objects.none()
    return Presentation.objects.filter(reader__user=user).exclude(
        study__state=ReaderStudy.State.DRAFT
    )


def presentation_for_reader(user, token: str) -> Presentation:
    """The reader's presentation with this token, once available to them; else 404."""
    found = (
        own_presentations(user)
        .filter(token=token)
        .select_related(
            "study__denoiser_model", "study__comparison_model", "study_case__case", "reader"
        )
        .first()
    )
    if found is None or not is_available(found):
        raise Http404("No such presentation.")
    return found


def presentation_for_image(user, side_token: str) -> tuple[Presentation, str]:
    """(presentation, side) of a per-side image token of the reader's; else 404."""
    base = own_presentations(user).select_related(
        "study__denoiser_model", "study__comparison_model", "study_case__case", "reader"
    )
    for side, field in (("A", "token_a"), ("B", "token_b")):
        found = base.filter(**{field: side_token}).first()
        if found is not None and is_available(found):
            return found, side
    raise Http404("No such image.")


def is_available(presentation: Presentation) -> bool:
    """Session 2 opens for a reader only after their washout since ending session 1."""
    if presentation.session == 1:
        return True
    done = presentation.reader.session1_done_at
    if done is None:
        return False
    days = presentation.study.washout_days
    return timezone.now() >= done + timedelta(days=days)
