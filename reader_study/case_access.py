"""Who may see which case: the owning researcher, and staff. Readers never reach case data.

Every case page, case API and DICOMweb endpoint goes through these, so the rule
is written once. Someone else's case answers 404, not 403: its existence is not
revealed either.
"""

from __future__ import annotations

from django.db.models import QuerySet
from rest_framework.permissions import BasePermission

from reader_study.models import Case
from reader_study.roles import is_researcher


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
