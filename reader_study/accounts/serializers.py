"""JSON shapes of the account API, and the error shape every API module answers with."""

from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers
from rest_framework.settings import api_settings

from reader_study.access import ROLES
from reader_study.inputs import MAX_ID


class ErrorSerializer(serializers.Serializer):
    """A refused request: `{"detail": "..."}` (DRF's own errors share the shape)."""

    detail = serializers.CharField(help_text="Why, in words for a person.")


class MeSerializer(serializers.Serializer):
    username = serializers.CharField()
    roles = serializers.ListField(child=serializers.ChoiceField(choices=ROLES))


def id_path_parameter(description: str, name: str = "pk") -> OpenApiParameter:
    """An `<id:name>` URL part (reader_study.inputs.IdConverter) as the schema states it: a row
    id. `pk` is `{id}` in the schema paths while DRF's SCHEMA_COERCE_PATH_PK renames it so."""
    if name == "pk" and api_settings.SCHEMA_COERCE_PATH_PK:
        name = "id"
    return OpenApiParameter(
        name,
        {"type": "integer", "format": "int64", "minimum": 1, "maximum": MAX_ID},
        OpenApiParameter.PATH,
        description=description,
    )
