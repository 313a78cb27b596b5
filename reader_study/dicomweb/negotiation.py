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
            return 0.001  # unreadable: acceptable, but after everything else


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


def _all_ranges(header: str | None) -> list[MediaRange]:
    ranges = []
    for item in _split(header or "*/*", ","):
        parts = _split(item, ";")
        params = {}
        for part in parts[1:]:
            key, _, value = part.partition("=")
            params[key.strip().lower()] = value.strip().strip('"')
        ranges.append(MediaRange(parts[0].lower(), params))
    return ranges


def parse_accept(header: str | None) -> list[MediaRange]:
    """The acceptable ranges, best first; q=0 ranges (RFC 9110 12.4.2: "not acceptable")
    are left out here and excluded by :func:`refused`."""
    ranges = [r for r in _all_ranges(header) if r.quality > 0]
    return sorted(ranges, key=lambda r: -r.quality)


def refused(header: str | None) -> set[str]:
    """What q=0 ranges rule out, even where a wildcard would let it in: the media type (a
    multipart range's `type=`), and with a transfer syntax "type;syntax"."""
    out = set()
    for r in _all_ranges(header):
        if r.quality > 0:
            continue
        kind = r.params.get("type", "").lower() if r.media_type.startswith("multipart/") else ""
        kind = kind or r.media_type
        syntax = r.params.get("transfer-syntax")
        out.add(f"{kind};{syntax}" if syntax else kind)
    return out


def choose_dicom_syntax(header: str | None, stored: str) -> str | None:
    """The transfer syntax to send an instance in, or None (406).

    `multipart/related; type="application/dicom"` without a transfer-syntax means
    Explicit VR Little Endian (PS3.18 8.7.3.5.2); `transfer-syntax=*` means as stored.
    """
    no = refused(header)
    if "application/dicom" in no:
        return None
    for item in parse_accept(header):
        if item.media_type in ("*/*", "multipart/*"):
            default = f"application/dicom;{ExplicitVRLittleEndian}"
            return None if default in no else ExplicitVRLittleEndian
        if item.media_type not in ("multipart/related", "application/dicom"):
            continue
        kind = item.params.get("type", "application/dicom").lower()
        if item.media_type == "multipart/related" and kind not in ("application/dicom", "*/*"):
            continue
        wanted = item.params.get("transfer-syntax", ExplicitVRLittleEndian)
        if wanted == "*" or wanted == stored:
            wanted = stored
        if wanted in (stored, *NATIVE) and f"application/dicom;{wanted}" not in no:
            return wanted
    return None


def accepts(header: str | None, *media_types: str) -> str | None:
    """The first of `media_types` the header accepts (multipart `type=` counts too) and
    no q=0 range refuses."""
    no = refused(header)
    for item in parse_accept(header):
        inner = (
            item.params.get("type", "").lower() if item.media_type.startswith("multipart/") else ""
        )
        for candidate in media_types:
            if candidate in no:
                continue
            major = candidate.split("/")[0]
            if item.media_type in (candidate, "*/*", f"{major}/*") or inner == candidate:
                return candidate
            if item.media_type.startswith("multipart/") and inner in ("", "*/*"):
                return candidate
    return None


def prefers_single_part(header: str | None, media_type: str) -> bool:
    """Whether the most wanted acceptable range is `media_type` itself rather than a
    multipart/related body (or a wildcard, which gets the multipart default): a client
    that asks for a bare `application/dicom` file gets one, not a multipart body."""
    for item in parse_accept(header):
        if item.media_type == media_type:
            return True
        if item.media_type in ("*/*", "multipart/*", "multipart/related"):
            return False
    return False


def only(header: str | None, media_type: str) -> str:
    """The header's ranges of exactly ``media_type`` (q=0 ones included), as a header: what a
    single-part answer may be chosen from."""
    items = [i for i in _split(header or "", ",") if i.split(";")[0].strip().lower() == media_type]
    return ", ".join(items)


def allows_multipart(header: str | None) -> bool:
    """Whether some acceptable range lets a multipart/related body through."""
    return any(
        item.media_type in ("*/*", "multipart/*", "multipart/related")
        for item in parse_accept(header)
    )
