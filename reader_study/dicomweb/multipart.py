"""multipart/related bodies (RFC 2387): streamed out for WADO-RS, parsed in for STOW-RS."""

from __future__ import annotations

import mmap
import re
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

BOUNDARY_PARAM = re.compile(r'boundary="?([^";]+)"?', re.IGNORECASE)


def new_boundary() -> str:
    return f"ldct-{uuid.uuid4().hex}"


def stream_parts(parts: Iterable[tuple[str, bytes]], boundary: str) -> Iterator[bytes]:
    """Yields the body of a multipart/related response, one part at a time."""
    for content_type, data in parts:
        yield (
            f"--{boundary}\r\nContent-Type: {content_type}\r\nContent-Length: {len(data)}\r\n\r\n"
        ).encode()
        yield data
        yield b"\r\n"
    yield f"--{boundary}--\r\n".encode()


class BadMultipart(ValueError):
    pass


@dataclass
class Part:
    headers: dict[str, str]
    path: Path
    size: int

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "application/octet-stream")


def boundary_of(content_type: str) -> str:
    match = BOUNDARY_PARAM.search(content_type or "")
    if not match:
        raise BadMultipart("Content-Type has no boundary parameter")
    return match.group(1)


class LengthRequired(Exception):
    pass


def body_stream(request):
    """The request body to read: Django's (bounded by Content-Length), or, for a chunked
    body (HTTP/1.1 Transfer-Encoding: chunked, which dicomweb-client sends above 1 MB), the
    server's input when the server has de-chunked it and marks its end (gunicorn sets
    ``wsgi.input_terminated``). Where it does not, LengthRequired (411)."""
    meta = request.META
    coding = meta.get("HTTP_TRANSFER_ENCODING", "").strip().lower()
    if not coding:
        return request
    if coding != "chunked":
        raise BadMultipart(f"Transfer-Encoding {coding!r} is not supported (only chunked)")
    if meta.get("CONTENT_LENGTH"):
        # RFC 9112 6.3: with both, the length is not to be trusted; refuse rather than guess.
        raise BadMultipart("Transfer-Encoding and Content-Length together")
    if meta.get("wsgi.input_terminated"):
        return meta["wsgi.input"]
    raise LengthRequired("this server cannot read a chunked body: send Content-Length")


def spool(stream, target: Path, limit: int) -> int:
    """Copies the request body to `target`; BadMultipart(413) past `limit` bytes."""
    written = 0
    with open(target, "wb") as out:
        while block := stream.read(1024 * 1024):
            written += len(block)
            if written > limit:
                raise TooLarge(written)
            out.write(block)
    return written


class TooLarge(Exception):
    pass


def split(body: Path, boundary: str, workdir: Path) -> list[Part]:
    """The parts of a spooled multipart body, each written to its own file."""
    delimiter = b"--" + boundary.encode()
    parts: list[Part] = []
    if body.stat().st_size == 0:
        return parts
    with open(body, "rb") as fh, mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ) as data:
        start = data.find(delimiter)
        if start < 0:
            raise BadMultipart("the body does not contain the boundary")
        position = start + len(delimiter)
        while True:
            if data[position : position + 2] == b"--":
                return parts
            header_end = data.find(b"\r\n\r\n", position)
            if header_end < 0:
                raise BadMultipart(f"part {len(parts) + 1}: headers are not terminated")
            headers = _headers(data[position:header_end])
            content_start = header_end + 4
            end = data.find(b"\r\n" + delimiter, content_start)
            if end < 0:
                raise BadMultipart(f"part {len(parts) + 1}: no closing boundary (truncated body)")
            target = workdir / f"part-{len(parts) + 1:06d}"
            target.write_bytes(data[content_start:end])
            parts.append(Part(headers, target, end - content_start))
            position = end + 2 + len(delimiter)


def _headers(raw: bytes) -> dict[str, str]:
    headers = {}
    for line in raw.decode("latin-1").split("\r\n"):
        name, sep, value = line.partition(":")
        if sep:
            headers[name.strip().lower()] = value.strip()
    return headers
