"""Who may see what, in one vocabulary: roles, ownership and study membership.

- Roles are Django groups (`researcher`, `reader`), so an operator manages them in the
  admin. A superuser counts as a researcher; a reader only ever reads and scores.
- A researcher sees the cases, jobs and studies they own; staff see all.
- A reader sees only the studies they are assigned to (once opened), and within them only
  their own presentations, known by opaque tokens.
- What another user owns answers 404, not 403: its existence is not revealed either.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps

from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.exceptions import PermissionDenied
from django.db.models import Q, QuerySet
from django.http import Http404
from django.utils import timezone
from rest_framework.permissions import BasePermission

from reader_study.models import Case, DenoiseJob, Presentation, ReaderStudy, TrainingJob

# --- Roles ------------------------------------------------------------------------------------

RESEARCHER = "researcher"
READER = "reader"
ROLES = (RESEARCHER, READER)


def _groups(user: User | AnonymousUser) -> set[str]:
    if not user.is_authenticated:
        return set()
    cached = getattr(user, "_role_groups", None)
    if cached is None:
        cached = set(user.groups.values_list("name", flat=True))
        user._role_groups = cached
    return cached


def is_researcher(user: User | AnonymousUser | None) -> bool:
    # DRF leaves `request.user` None for anonymous callers (UNAUTHENTICATED_USER).
    return (
        user is not None
        and user.is_authenticated
        and (user.is_superuser or RESEARCHER in _groups(user))
    )


def is_reader(user: User | AnonymousUser | None) -> bool:
    return user is not None and user.is_authenticated and READER in _groups(user)


def roles_of(user: User | AnonymousUser) -> list[str]:
    return [
        role for role, check in ((RESEARCHER, is_researcher), (READER, is_reader)) if check(user)
    ]


def assign_role(user: User, role: str) -> None:
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}; expected one of {', '.join(ROLES)}")
    user.groups.add(Group.objects.get(name=role))
    user.__dict__.pop("_role_groups", None)


def role_required(check):
    """View decorator: the page exists only for users that pass `check`."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if not check(request.user):
                raise PermissionDenied("Your account does not have access to this page.")
            return view(request, *args, **kwargs)

        return wrapped

    return decorator


researcher_required = role_required(is_researcher)
reader_required = role_required(is_reader)


class IsResearcher(BasePermission):
    message = "Only researchers can use this endpoint."

    def has_permission(self, request, view) -> bool:
        return is_researcher(request.user)


class IsReader(BasePermission):
    message = "Only readers can use this endpoint."

    def has_permission(self, request, view) -> bool:
        return is_reader(request.user)


def role_context(request) -> dict:
    """Template context: lets the shared layout show the right navigation."""
    user = getattr(request, "user", None)
    if user is None:
        return {}
    return {"is_researcher": is_researcher(user), "is_reader": is_reader(user)}


# --- Cases ------------------------------------------------------------------------------------


def can_use_cases(user) -> bool:
    # DRF leaves `request.user` None for anonymous callers (UNAUTHENTICATED_USER).
    if user is None or not user.is_authenticated:
        return False
    return is_researcher(user) or user.is_staff


def visible_cases(user) -> QuerySet[Case]:
    if user is None or not user.is_authenticated:
        return Case.objects.none()
    if user.is_staff or user.is_superuser:
        return Case.objects.all()
    return Case.objects.filter(owner=user)


class CanUseCases(BasePermission):
    message = "Only researchers (and staff) can use case data."

    def has_permission(self, request, view) -> bool:
        return can_use_cases(request.user)


# --- Jobs -------------------------------------------------------------------------------------

jobs_user_required = role_required(can_use_cases)


def visible_denoise_jobs(user) -> QuerySet[DenoiseJob]:
    return DenoiseJob.objects.filter(case__in=visible_cases(user)).select_related(
        "case", "denoiser_model"
    )


def visible_training_jobs(user) -> QuerySet[TrainingJob]:
    jobs = TrainingJob.objects.select_related("result_model", "owner")
    if user.is_staff or user.is_superuser:
        return jobs
    return jobs.filter(owner=user)


# --- Studies and reading ----------------------------------------------------------------------


def owned_studies(user) -> QuerySet[ReaderStudy]:
    return ReaderStudy.objects.owned_by(user).select_related("denoiser_model", "comparison_model")


def study_of_owner(user, pk: int) -> ReaderStudy:
    """The study `pk` of `user` (a researcher, or staff); 404 for anyone else, readers and
    former researchers included: a study's existence is not revealed."""
    study = owned_studies(user).filter(pk=pk).first() if can_use_cases(user) else None
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
    # One query for either side: a second lookup for B would make B answer later than A.
    found = (
        own_presentations(user)
        .filter(Q(token_a=side_token) | Q(token_b=side_token))
        .select_related(
            "study__denoiser_model", "study__comparison_model", "study_case__case", "reader"
        )
        .first()
    )
    if found is None or not is_available(found):
        raise Http404("No such image.")
    return found, "A" if found.token_a == side_token else "B"


def is_available(presentation: Presentation) -> bool:
    """Session 2 opens for a reader only after their washout since ending session 1."""
    if presentation.session == 1:
        return True
    done = presentation.reader.session1_done_at
    if done is None:
        return False
    days = presentation.study.washout_days
    return timezone.now() >= done + timedelta(days=days)
