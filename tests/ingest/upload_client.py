"""Drives the upload API the way the browser module does: announce, chunks, ingest."""

from __future__ import annotations

import base64
import hashlib

from django.urls import reverse


def start(api, label: str) -> dict:
    response = api.post(reverse("api-uploads"), {"label": label}, format="json")
    assert response.status_code == 201, response.content
    return response.json()


def announce(api, session: dict, files: list[tuple[str, bytes]]):
    body = {"files": [{"name": name, "size": len(data)} for name, data in files]}
    return api.post(reverse("api-upload-files", args=[session["id"]]), body, format="json")


def put_chunk(api, session_id: str, file_info: dict, data: bytes, index: int):
    size = file_info["chunk_bytes"]
    chunk = data[index * size : (index + 1) * size]
    digest = base64.b64encode(hashlib.sha256(chunk).digest()).decode()
    return api.put(
        reverse("api-upload-chunk", args=[session_id, file_info["id"], index]),
        data=chunk,
        content_type="application/octet-stream",
        HTTP_CONTENT_DIGEST=f"sha-256=:{digest}:",
    )


def send_missing(api, session: dict, files: list[tuple[str, bytes]], stop_after: int | None = None):
    """Sends every chunk the server does not have yet; `stop_after` simulates a dropped line."""
    response = announce(api, session, files)
    assert response.status_code == 200, response.content
    data_by_name = dict(files)
    sent = 0
    for info in response.json()["files"]:
        for index in range(info["chunks"]):
            if index in info["received"]:
                continue
            if stop_after is not None and sent >= stop_after:
                return sent
            assert (
                put_chunk(api, session["id"], info, data_by_name[info["name"]], index).status_code
                == 200
            )
            sent += 1
    return sent


def finish(api, session: dict, **options):
    return api.post(reverse("api-upload-ingest", args=[session["id"]]), options, format="json")


def upload(api, label: str, files: list[tuple[str, bytes]], **options):
    session = start(api, label)
    send_missing(api, session, files)
    return finish(api, session, **options)


def put_batch(api, session_id: str, infos: list[dict], datas: list[bytes], digest: bool = True):
    """Whole one-chunk files in one request, as the browser sends small files."""
    body = b"".join(datas)
    headers = {}
    if digest:
        value = base64.b64encode(hashlib.sha256(body).digest()).decode()
        headers["HTTP_CONTENT_DIGEST"] = f"sha-256=:{value}:"
    ids = ",".join(str(info["id"]) for info in infos)
    return api.put(
        reverse("api-upload-batch", args=[session_id]) + f"?files={ids}",
        data=body,
        content_type="application/octet-stream",
        **headers,
    )
