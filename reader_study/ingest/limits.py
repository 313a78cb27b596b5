"""The ingest limits, read from settings (which read them from the environment)."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from pydicom.uid import (
    JPEG2000,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGExtended12Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    JPEGLSLossless,
    JPEGLSNearLossless,
    RLELossless,
)

# Everything pydicom decodes with the pylibjpeg plugins in requirements.txt.
DEFAULT_TRANSFER_SYNTAXES = frozenset(
    {
        ImplicitVRLittleEndian,
        ExplicitVRLittleEndian,
        ExplicitVRBigEndian,
        DeflatedExplicitVRLittleEndian,
        JPEGBaseline8Bit,
        JPEGExtended12Bit,
        JPEGLossless,
        JPEGLosslessSV1,
        JPEGLSLossless,
        JPEGLSNearLossless,
        JPEG2000Lossless,
        JPEG2000,
        RLELossless,
    }
)


@dataclass(frozen=True)
class Limits:
    max_upload_bytes: int
    max_files: int
    chunk_bytes: int
    zip_max_ratio: int
    transfer_syntaxes: frozenset[str]


def current() -> Limits:
    return Limits(
        max_upload_bytes=settings.LDCT_MAX_UPLOAD_BYTES,
        max_files=settings.LDCT_MAX_FILES_PER_CASE,
        chunk_bytes=settings.LDCT_UPLOAD_CHUNK_BYTES,
        zip_max_ratio=settings.LDCT_ZIP_MAX_RATIO,
        transfer_syntaxes=frozenset(settings.LDCT_ACCEPTED_TRANSFER_SYNTAXES)
        or DEFAULT_TRANSFER_SYNTAXES,
    )


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("bytes", "KB", "MB", "GB"):
        if size < 1024 or unit == "GB":
            return f"{size:.0f} {unit}" if unit == "bytes" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} bytes"


def over_size(what: str, total: int, limits: Limits) -> str:
    """The refusal of an upload or request of `total` bytes beyond LDCT_MAX_UPLOAD_BYTES."""
    return (
        f"{what} is {human_bytes(total)}, more than the limit of "
        f"{human_bytes(limits.max_upload_bytes)} (LDCT_MAX_UPLOAD_BYTES)"
    )
