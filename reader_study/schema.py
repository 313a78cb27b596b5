"""The OpenAPI schema covers the JSON REST API under /api/; DICOMweb is described by
DICOM PS3.18 itself and its answers are DICOM, not our JSON."""

from __future__ import annotations


def only_the_rest_api(endpoints, **kwargs):
    """drf-spectacular preprocessing hook: keep /api/ endpoints, drop the schema's own."""
    return [
        (path, regex, method, view)
        for path, regex, method, view in endpoints
        if path.startswith("/api/") and not path.startswith("/api/schema")
    ]


AUTH_ERRORS = {
    "401": "Not logged in, or a token that is not valid (`WWW-Authenticate` says how).",
    "403": "Logged in, but this role or this object is not yours to use (or the CSRF "
    "check of a session login failed).",
}


def document_auth_errors(result, generator, request, public):
    """drf-spectacular postprocessing hook: every operation needs a login and a role, and
    DRF answers a missing one with 401 and a refused one with 403, both `{"detail": ...}`;
    operations that describe a 403 of their own keep it."""
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for operations in result.get("paths", {}).values():
        for operation in operations.values():
            responses = operation.setdefault("responses", {})
            for code, description in AUTH_ERRORS.items():
                responses.setdefault(code, {"content": error, "description": description})
            operation["responses"] = dict(sorted(responses.items()))
    return result
