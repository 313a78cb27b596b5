"""WADO-URI (PS3.18 chapter 9): one URL per instance, what Cornerstone's `wadouri:` loads.

/dicomweb/wado?requestType=WADO&studyUID=..&seriesUID=..&objectUID=..
    &contentType=application/dicom[&transferSyntax=UID]
    &contentType=image/png|image/jpeg[&windowCenter=..&windowWidth=..&frameNumber=..]
"""

from __future__ import annotations

import json

from django.http import HttpResponse
from pydicom.uid import ExplicitVRLittleEndian

from reader_study.cases.preview import as_jpeg, render_png
from reader_study.dicomweb import lookup
from reader_study.dicomweb.base import DicomWebView
from reader_study.dicomweb.negotiation import NATIVE
from reader_study.dicomweb.wado import _window, decoded_frames

REQUIRED = ("studyUID", "seriesUID", "objectUID")
CONTENT_TYPES = ("application/dicom", "image/jpeg", "image/png")


def _bad(status: int, message: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": message}), status=status, content_type="application/json"
    )


class WadoUri(DicomWebView):
    def get(self, request):
        params = request.query_params
        if params.get("requestType") != "WADO":
            return _bad(400, "requestType=WADO is required")
        missing = [name for name in REQUIRED if not params.get(name)]
        if missing:
            return _bad(400, f"missing parameter(s): {', '.join(missing)}")
        # Several types may be listed in preference order; the standard's default is JPEG.
        wanted = [t.strip() for t in params.get("contentType", "image/jpeg").split(",")]
        content_type = next((t for t in wanted if t in CONTENT_TYPES), None)
        if content_type is None:
            return _bad(406, f"contentType: one of {', '.join(CONTENT_TYPES)}")
        instance = lookup.instance_of(
            request.user, params["studyUID"], params["seriesUID"], params["objectUID"]
        )
        if content_type == "application/dicom":
            return self._dicom(instance, params.get("transferSyntax"))
        return self._image(request, instance, content_type)

    def _dicom(self, instance, syntax: str | None) -> HttpResponse:
        # No transferSyntax: Explicit VR Little Endian, which every reader can parse.
        syntax = syntax or ExplicitVRLittleEndian
        if syntax != instance.transfer_syntax_uid and syntax not in NATIVE:
            return _bad(
                406,
                f"transferSyntax: {instance.transfer_syntax_uid} (as stored) or "
                f"{', '.join(NATIVE)}",
            )
        response = HttpResponse(lookup.encoded(instance, syntax), content_type="application/dicom")
        # A download, whatever a browser makes of the bytes (a preamble may hold anything).
        response["Content-Disposition"] = f'attachment; filename="{instance.sop_instance_uid}.dcm"'
        return response

    def _image(self, request, instance, content_type: str) -> HttpResponse:
        pixels, ds = decoded_frames(instance)
        try:
            frame = int(request.query_params.get("frameNumber", 1))
        except ValueError:
            return _bad(400, "frameNumber: a whole number")
        if not 1 <= frame <= len(pixels):
            return _bad(400, f"frameNumber: 1 to {len(pixels)}")
        try:
            window = (
                float(request.query_params["windowCenter"]),
                float(request.query_params["windowWidth"]),
            )
        except (KeyError, ValueError):
            window = _window(request, ds)
        png = render_png(pixels[frame - 1], ds, window)
        if content_type == "image/png":
            return HttpResponse(png, content_type="image/png")
        return HttpResponse(as_jpeg(png), content_type="image/jpeg")
