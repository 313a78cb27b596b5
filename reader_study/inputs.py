"""Values from clients, checked before they reach the database: a 400 naming the field.

Row ids are 64-bit signed integers in every database this runs on; a larger number in a
query string, a JSON body or a URL would overflow the query and fail as a server error.
"""

from __future__ import annotations

import re

from django.urls import register_converter

MAX_ID = 2**63 - 1
MAX_IDS = 1000  # ids one request may list
# Control characters (C0, DEL, C1) have no place in a label or a file name: they end up in
# DICOM PN values, page text and JSON, where ESC/BEL/CR/LF can forge or hide content.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class BadInput(ValueError):
    """A client value that cannot be used; the message names the field and the reason."""


def row_id(value, field: str) -> int:
    """A positive row id from a JSON number or a string of digits."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise BadInput(f"'{field}' must be an integer id, not {type(value).__name__}.")
    text = str(value).strip()
    if not (text.isascii() and text.isdigit()) or not 0 < int(text) <= MAX_ID:
        raise BadInput(f"'{field}': {text[:40]!r} is not an id (a whole number from 1 to 2^63-1).")
    return int(text)


def row_ids(values, field: str, *, limit: int = MAX_IDS) -> list[int]:
    """A non-empty JSON list of row ids, at most `limit` of them."""
    if not isinstance(values, list) or not values:
        raise BadInput(f"'{field}' must be a non-empty list of ids.")
    if len(values) > limit:
        raise BadInput(f"'{field}' lists {len(values)} ids; at most {limit} are accepted.")
    return [row_id(v, field) for v in values]


def id_list_param(text: str, field: str, *, limit: int = MAX_IDS) -> list[int]:
    """Comma-separated ids from a query string ("3,4,5"); empty text is an empty list."""
    parts = [p for p in text.split(",") if p.strip()]
    if len(parts) > limit:
        raise BadInput(f"'{field}' lists {len(parts)} ids; at most {limit} are accepted.")
    return [row_id(p, field) for p in parts]


def clean_text(value: str, field: str, *, max_length: int | None = None) -> str:
    """`value` without surrounding space; BadInput if it holds control characters."""
    if CONTROL_CHARACTERS.search(value):
        raise BadInput(
            f"'{field}' contains control characters (such as line breaks or escape codes); "
            "use printable text."
        )
    value = value.strip()
    if max_length is not None and len(value) > max_length:
        raise BadInput(f"'{field}' is {len(value)} characters long; at most {max_length}.")
    return value


class IdConverter:
    """`<id:pk>` in URLs: digits that fit a row id; anything longer is a 404, not a 500."""

    regex = "[0-9]{1,19}"

    def to_python(self, value: str) -> int:
        number = int(value)
        if not 0 < number <= MAX_ID:
            raise ValueError(value)  # the URL resolver turns this into "no match" (404)
        return number

    def to_url(self, value) -> str:
        return str(int(value))


register_converter(IdConverter, "id")
