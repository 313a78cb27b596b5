"""The client's address for the login lockout, with or without trusted proxies."""

from __future__ import annotations

from django.conf import settings


def client_address(request) -> str:
    """REMOTE_ADDR, or behind N trusted proxies the address the outermost one saw.

    Each proxy appends the address it received from to X-Forwarded-For, so the N-th entry
    from the right was written by our own first proxy; anything left of it the client may
    have forged.
    """
    trusted = settings.LDCT_TRUSTED_PROXIES
    remote = request.META.get("REMOTE_ADDR", "")
    if not trusted:
        return remote
    hops = [h.strip() for h in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if h.strip()]
    return hops[-trusted] if len(hops) >= trusted else remote
