"""`Authorization: Bearer <token>`: the API tokens under the scheme OAuth-minded clients
(OHIF's DICOMweb data source among them) send; the same tokens as `Token <token>`."""

from rest_framework.authentication import TokenAuthentication


class BearerTokenAuthentication(TokenAuthentication):
    keyword = "Bearer"
