"""Who is asking: the two roles of the product and the checks built on them.

Roles are Django groups, so an operator manages them in the admin. A
superuser counts as a researcher (and can open the admin); a reader only ever
reads and scores.
"""

from __future__ import annotations

from functools import wraps

from django.contrib.auth.models import AnonymousUser, Group, User
from django.core.exceptions import PermissionDenied
from rest_framework.permissions import BasePermission

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
    return user is not None and user.is_authenticated and (user.is_superuser or RESEARCHER in _groups(user))


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
