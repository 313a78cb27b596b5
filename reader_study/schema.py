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
