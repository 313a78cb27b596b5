"""REST API (DRF). Session or `Authorization: Token ...` authentication."""

from __future__ import annotations

from drf_spectacular.utils import extend_schema
from rest_framework.decorators import api_view
from rest_framework.request import Request
from rest_framework.response import Response

from reader_study.access import roles_of
from reader_study.accounts.serializers import MeSerializer


@extend_schema(operation_id="me", responses=MeSerializer)
@api_view(["GET"])
def me(request: Request) -> Response:
    """Who the caller is and which roles they hold: lets a script check its token."""
    user = request.user
    return Response({"username": user.get_username(), "roles": roles_of(user)})
