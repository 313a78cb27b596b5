"""WADO-RS: instances (multipart/related application/dicom), metadata, frames, rendered."""

from __future__ import annotations

import json
import warnings

import numpy as np
from django.http import HttpResponse, StreamingHttpResponse
from django.utils.cache import patch_vary_headers
from pydicom.uid import ExplicitVRLittleEndian
from rest_framework.exceptions import NotFound

from reader_study.cases.preview import SOFT_TISSUE, as_jpeg, render_png
from reader_study.dicomweb import lookup
from reader_study.dicomweb.base import DicomWebView
from reader_study.dicomweb.multipart import new_boundary, stream_parts
from reader_study.dicomweb.negotiation import (
    accepts,
    allows_multipart,
    choose_dicom_syntax,
    only,
    parse_accept,
    prefers_single_part,
)
from reader_study.dicomweb.qido import DICOM_JSON
from reader_study.models import Instance

INLINE_BINARY_LIMIT = 2**31  # everything but pixel data goes inline


def not_acceptable(what: str) -> HttpResponse:
    return HttpResponse(
        json.dumps({"detail": f"Not Acceptable: {what}"}),
        status=406,
        content_type="application/json",
    )


def dicom_multipart(request, instances: list[Instance]) -> HttpResponse:
    accept = request.headers.get("Accept")
    syntaxes = [choose_dicom_syntax(accept, i.transfer_syntax_uid) for i in instances]
    if any(s is None for s in syntaxes):
        return not_acceptable(
            'this server sends multipart/related; type="application/dicom" with transfer-syntax '
            "* (as stored), 1.2.840.10008.1.2.1 or 1.2.840.10008.1.2"
        )
    boundary = new_boundary()
    parts = (
        (f"application/dicom; transfer-syntax={syntax}", lookup.encoded(instance, syntax))
        for instance, syntax in zip(instances, syntaxes, strict=True)
    )
    response = StreamingHttpResponse(
        stream_parts(parts, boundary),
        content_type=f'multipart/related; type="application/dicom"; boundary={boundary}',
    )
    return response


class RetrieveStudy(DicomWebView):
    def get(self, request, study_uid: str):
        return dicom_multipart(request, lookup.instances_of(request.user, study_uid))


class RetrieveSeries(DicomWebView):
    def get(self, request, study_uid: str, series_uid: str):
        return dicom_multipart(request, lookup.instances_of(request.user, study_uid, series_uid))


class RetrieveInstance(DicomWebView):
    def get(self, request, study_uid: str, series_uid: str, sop_uid: str):
        instance = lookup.instance_of(request.user, study_uid, series_uid, sop_uid)
        accept = request.headers.get("Accept")
        syntax = None
        if prefers_single_part(accept, "application/dicom"):
            # Only from the bare ranges: a syntax listed for multipart is not one for this.
            syntax = choose_dicom_syntax(
                only(accept, "application/dicom"), instance.transfer_syntax_uid
            )
        if syntax is None:
            response = dicom_multipart(request, [instance])
        else:
            response = HttpResponse(
                lookup.encoded(instance, syntax),
                content_type=f"application/dicom; transfer-syntax={syntax}",
            )
        patch_vary_headers(response, ["Accept"])  # one URL, a file or a multipart body
        return response


def metadata_json(request, instance: Instance) -> dict:
    """The header as DICOM JSON; pixel data as a BulkDataURI to the frames resource.

    Other binary elements of a CT header are small (no icon images survive
    de-identification), so they travel inline rather than through a bulkdata resource.
    """
    url = lookup.absolute_url(request, lookup.instance_path(instance))
    ds = lookup.read(instance, pixels=False)
    data = ds.to_json_dict(bulk_data_threshold=INLINE_BINARY_LIMIT)
    frames = ",".join(str(n) for n in range(1, instance.number_of_frames + 1))
    data["7FE00010"] = {"vr": "OW", "BulkDataURI": f"{url}/frames/{frames}"}
    return data


def metadata_response(request, instances: list[Instance]) -> HttpResponse:
    if not accepts(request.headers.get("Accept"), DICOM_JSON, "application/json"):
        return not_acceptable("metadata is sent as application/dicom+json")
    body = json.dumps([metadata_json(request, i) for i in instances])
    return HttpResponse(body, content_type=DICOM_JSON)


class StudyMetadata(DicomWebView):
    def get(self, request, study_uid: str):
        return metadata_response(request, lookup.instances_of(request.user, study_uid))


class SeriesMetadata(DicomWebView):
    def get(self, request, study_uid: str, series_uid: str):
        instances = lookup.instances_of(request.user, study_uid, series_uid)
        return metadata_response(request, instances)


class InstanceMetadata(DicomWebView):
    def get(self, request, study_uid: str, series_uid: str, sop_uid: str):
        instance = lookup.instance_of(request.user, study_uid, series_uid, sop_uid)
        return metadata_response(request, [instance])


def _frame_numbers(text: str, count: int) -> list[int] | None:
    try:
        numbers = [int(n) for n in text.split(",") if n.strip()]
    except ValueError:
        return None
    if not numbers or any(n < 1 or n > count for n in numbers):
        return None
    return numbers


def decoded_frames(instance: Instance):
    ds = lookup.read(instance)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        pixels = ds.pixel_array
    return pixels.reshape(instance.number_of_frames, *pixels.shape[-2:]), ds


def _accepts_native_frames(header: str | None) -> bool:
    """Frames go out uncompressed: octet-stream, transfer syntax absent, * or Explicit VR LE."""
    for item in parse_accept(header):
        inner = item.params.get("type", "").lower()
        native = item.params.get("transfer-syntax", "*") in ("*", ExplicitVRLittleEndian)
        single = item.media_type in ("*/*", "application/octet-stream", "multipart/*")
        multipart = item.media_type == "multipart/related" and inner in (
            "",
            "*/*",
            "application/octet-stream",
        )
        if native and (single or multipart):
            return True
    return False


class RetrieveFrames(DicomWebView):
    """Frames as native (uncompressed, little endian) pixel data: octet-stream parts."""

    def get(self, request, study_uid: str, series_uid: str, sop_uid: str, frames: str):
        instance = lookup.instance_of(request.user, study_uid, series_uid, sop_uid)
        numbers = _frame_numbers(frames, instance.number_of_frames)
        if numbers is None:
            return HttpResponse(
                json.dumps(
                    {"detail": f"frames: 1 to {instance.number_of_frames}, comma separated"}
                ),
                status=400,
                content_type="application/json",
            )
        accept = request.headers.get("Accept")
        if not _accepts_native_frames(accept):
            return not_acceptable(
                'frames are sent as multipart/related; type="application/octet-stream"'
            )
        pixels, _ = decoded_frames(instance)
        native = "application/octet-stream; transfer-syntax=1.2.840.10008.1.2.1"
        parts = [
            (
                native,
                np.ascontiguousarray(pixels[n - 1])
                .astype(pixels.dtype.newbyteorder("<"))
                .tobytes(),
            )
            for n in numbers
        ]
        if prefers_single_part(accept, "application/octet-stream"):
            if len(parts) == 1:
                response = HttpResponse(parts[0][1], content_type=native)
                patch_vary_headers(response, ["Accept"])
                return response
            if not allows_multipart(accept):
                return not_acceptable("several frames are sent as multipart/related only")
        boundary = new_boundary()
        response = StreamingHttpResponse(
            stream_parts(parts, boundary),
            content_type=f'multipart/related; type="application/octet-stream"; boundary={boundary}',
        )
        patch_vary_headers(response, ["Accept"])
        return response


def _window(request, ds) -> tuple[float, float]:
    text = request.query_params.get("window", "")
    try:
        centre, width = (float(v) for v in text.split(",")[:2])
        return centre, width
    except ValueError:
        pass
    try:
        centre = float(ds.WindowCenter[0] if ds["WindowCenter"].VM > 1 else ds.WindowCenter)
        width = float(ds.WindowWidth[0] if ds["WindowWidth"].VM > 1 else ds.WindowWidth)
        return centre, width
    except (AttributeError, KeyError, TypeError, ValueError):
        return SOFT_TISSUE


class RetrieveRendered(DicomWebView):
    """A frame as JPEG (PS3.18's default) or PNG at the header's window (or
    `?window=centre,width,linear`)."""

    def get(self, request, study_uid: str, series_uid: str, sop_uid: str, frame: int = 1):
        instance = lookup.instance_of(request.user, study_uid, series_uid, sop_uid)
        frame = int(frame)
        kind = accepts(request.headers.get("Accept"), "image/jpeg", "image/png")
        if kind is None:
            return not_acceptable("rendered images are sent as image/jpeg or image/png")
        if not 1 <= frame <= instance.number_of_frames:
            detail = f"frame {frame}: this instance has frames 1 to {instance.number_of_frames}"
            return HttpResponse(
                json.dumps({"detail": detail}), status=404, content_type="application/json"
            )
        pixels, ds = decoded_frames(instance)
        png = render_png(pixels[frame - 1], ds, _window(request, ds))
        response = HttpResponse(png if kind == "image/png" else as_jpeg(png), content_type=kind)
        patch_vary_headers(response, ["Accept"])  # JPEG or PNG for one URL
        return response


class NoSuchResource(DicomWebView):
    """Anything under /dicomweb/ that is not a resource here: a JSON 404 that says so (after
    the login check, as everywhere), not Django's HTML page."""

    def _missing(self, request, *args, **kwargs):
        raise NotFound(
            f"{request.path} is not a DICOMweb resource of this server: studies, series and "
            "instances (search, retrieve, metadata), frames and rendered instances or frames"
        )

    get = post = put = patch = delete = options = _missing
