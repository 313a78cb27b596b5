"""The view base of every DICOMweb endpoint: DRF auth and permissions, our own negotiation."""

from __future__ import annotations

from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import JSONRenderer
from rest_framework.views import APIView

from reader_study.access import CanUseCases


class FirstRenderer(BaseContentNegotiation):
    """DICOMweb negotiates media types itself (multipart/related, transfer syntaxes); DRF's
    negotiation would answer 406 to any Accept it does not know before our code runs."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


class LeaveTheBody(BaseParser):
    """Claims STOW's multipart/related body without reading it: the view spools it to disk
    itself. Without a parser, DRF answers 415 as soon as anything asks for the request data,
    which the CSRF check of a session login does."""

    media_type = "multipart/related"

    def parse(self, stream, media_type=None, parser_context=None):
        return {}


class DicomWebView(APIView):
    permission_classes = [CanUseCases]
    content_negotiation_class = FirstRenderer
    renderer_classes = [JSONRenderer]
    parser_classes: list = [LeaveTheBody]  # STOW reads the raw stream
