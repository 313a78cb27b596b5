"""`Authorization: Bearer <token>`: the API tokens under the scheme OAuth-minded clients
(OHIF's DICOMweb data source among them) send; the same tokens as `Token <token>`."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    keyword = "Bearer"


class BearerTokenScheme(OpenApiAuthenticationExtension):
    """The schema's name for it: its own scheme, not a second "tokenAuth" (TokenAuthentication's,
    which drf-spectacular would otherwise also give to this subclass)."""

    target_class = BearerTokenAuthentication
    name = "bearerAuth"

    def get_security_definition(self, auto_schema):
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "The API token as `Authorization: Bearer <token>`.",
        }
