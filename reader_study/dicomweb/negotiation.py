"""Accept headers of DICOMweb: media ranges with `type` and `transfer-syntax` parameters."""

from __future__ import annotations

from dataclasses import dataclass, field

from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

# What we can produce from any stored syntax by decoding: the native ones.
NATIVE = (ExplicitVRLittleEndian, ImplicitVRLittleEndian)


@dataclass
class MediaRange:
    media_type: str
    params: dict[str, str] = field(default_factory=dict)

    @property
    def quality(self) -> float:
        try:
            return float(self.params.get("q", "1"))
        except ValueError:
            return 0.0


def _split(value: str, sep: str) -> list[str]:
    """Splits on `sep` outside double quotes."""
    out, current, quoted = [], [], False
    for char in value:
        if char == '"':
            quoted = not quoted
        if char == sep and not quoted:
            out.append("".join(current))
            current = []
        else:
            current.append(char)
    out.append("".join(current))
    return [item.strip() for item in out if item.strip()]


def parse_accept(header: str | None) -> list[MediaRange]:
    ranges = []
    for item in _split(header or "*/*", ","):
        parts = _split(item, ";")
        params = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        ranges.append(MediaRange(parts[0].lower(), params))
    # q=0 says "not acceptable" (RFC 9110 12.4.2): such a range offers nothing.
    return sorted((r for r in ranges if r.quality > 0), key=lambda r: -r.quality)


def choose_dicom_syntax(header: str | None, stored: str) -> str | None:
    """The transfer syntax to send an instance in, or None (406).

    `multipart/related; type="application/dicom"` without a transfer-syntax means
    Explicit VR Little Endian (PS3.18 8.7.3.5.2); `transfer-syntax=*` means as stored.
    """
    for item in parse_accept(header):
        if item.media_type in ("*/*", "multipart/*"):
            return ExplicitVRLittleEndian
        if item.media_type not in ("multipart/related", "application/dicom"):
            continue
        kind = item.params.get("type", "application/dicom").lower()
        if item.media_type == "multipart/related" and kind not in ("application/dicom", "*/*"):
            continue
        wanted = item.params.get("transfer-syntax", ExplicitVRLittleEndian)
        if wanted == "*" or wanted == stored:
            return stored
        if wanted in NATIVE:
            return wanted
    return None


def accepts(header: str | None, *media_types: str) -> str | None:
    """The first of `media_types` the header accepts (multipart `type=` counts too)."""
    for item in parse_accept(header):
        inner = (
            item.params.get("type", "").lower() if item.media_type.startswith("multipart/") else ""
        )
        for candidate in media_types:
            major = candidate.split("/")[0]
            if item.media_type in (candidate, "*/*", f"{major}/*") or inner == candidate:
                return candidate
            if item.media_type.startswith("multipart/") and inner in ("", "*/*"):
                return candidate
    return None
