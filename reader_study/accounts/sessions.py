"""Ending every session of a user: "log out everywhere" (a lost laptop, a shared room)."""

from __future__ import annotations

from django.contrib.auth import SESSION_KEY
from django.contrib.sessions.models import Session
from django.utils import timezone


def end_sessions(user) -> int:
    """Deletes every unexpired session signed in as `user`; returns how many.

    Sessions live in the database (Django's default engine) and are not indexed by user,
    so each live one is decoded: a department's few hundred at most.
    """
    mine = str(user.pk)
    ended = [
        session.pk
        for session in Session.objects.filter(expire_date__gt=timezone.now()).iterator()
        if session.get_decoded().get(SESSION_KEY) == mine
    ]
    Session.objects.filter(pk__in=ended).delete()
    return len(ended)
