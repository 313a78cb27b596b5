"""Ingest tests keep their media in a temporary folder of their own."""

from __future__ import annotations

import pytest

from reader_study.ingest.report import SourceFile


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    # Users are made per test; the real password hasher costs ~0.3 s each on CI.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    return settings.MEDIA_ROOT


def sources(paths, names=None) -> list[SourceFile]:
    out = []
    for index, path in enumerate(paths):
        name = names[index] if names else path.name
        out.append(SourceFile(name, path, path.stat().st_size))
    return out


def stored_files(media_root) -> list:
    return [p for p in media_root.rglob("*") if p.is_file()] if media_root.exists() else []
