"""Zip archives, opened defensively: a hostile archive is refused before a byte is written.

`zipfile.namelist()` returns raw names (`../../x`, `/etc/x`): they are shown to the
user but never used as paths; members are written to numbered files. Sizes and
ratios are checked from the central directory first, and then again while
reading, because the directory can lie.
"""

from __future__ import annotations

import stat
import zipfile
import zlib
from pathlib import Path, PurePosixPath

from reader_study.ingest.limits import Limits, human_bytes
from reader_study.ingest.report import SourceFile

ZIP_MAGIC = b"PK\x03\x04"
EMPTY_ZIP_MAGIC = b"PK\x05\x06"
READ_BLOCK = 1024 * 1024


class ArchiveRefused(Exception):
    """The whole archive is refused; the message names the archive and the reason."""


def is_zip(path: Path) -> bool:
    with open(path, "rb") as fh:
        head = fh.read(4)
    return head in (ZIP_MAGIC, EMPTY_ZIP_MAGIC)


def expand(source: SourceFile, workdir: Path, limits: Limits, budget: int) -> list[SourceFile]:
    """The archive's regular files as SourceFiles named 'archive.zip/inner/path'.

    `budget` is how many uncompressed bytes the upload may still grow by.
    """
    try:
        archive = zipfile.ZipFile(source.path)
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ArchiveRefused(f"{source.name}: damaged zip archive ({exc})") from None
    with archive:
        members = [info for info in archive.infolist() if not info.is_dir()]
        _check_directory(source.name, members, limits, budget)
        out = []
        for number, info in enumerate(members):
            target = workdir / f"zip-{id(source):x}-{number:06d}"
            _extract(source.name, archive, info, target)
            out.append(SourceFile(f"{source.name}/{info.filename}", target, info.file_size))
        return out


def _check_directory(name: str, members: list[zipfile.ZipInfo], limits: Limits, budget: int):
    if not members:
        raise ArchiveRefused(f"{name}: the zip archive holds no files")
    if len(members) > limits.max_files:
        raise ArchiveRefused(
            f"{name}: {len(members)} files in the archive, more than the limit of "
            f"{limits.max_files} files per case"
        )
    total = 0
    for info in members:
        _check_member_name(name, info)
        if info.flag_bits & 0x1:
            raise ArchiveRefused(f"{name}: entry '{info.filename}' is encrypted")
        if stat.S_ISLNK(info.external_attr >> 16):
            raise ArchiveRefused(f"{name}: entry '{info.filename}' is a symbolic link")
        ratio = info.file_size / max(info.compress_size, 1)
        if ratio > limits.zip_max_ratio:
            raise ArchiveRefused(
                f"{name}: entry '{info.filename}' expands {ratio:.0f} times "
                f"(limit {limits.zip_max_ratio}): refused as a possible zip bomb"
            )
        total += info.file_size
    if total > budget:
        raise ArchiveRefused(
            f"{name}: expands to {human_bytes(total)}, more than the {human_bytes(budget)} "
            "this upload may still hold"
        )


def _check_member_name(name: str, info: zipfile.ZipInfo) -> None:
    raw = info.filename.replace("\\", "/")
    parts = PurePosixPath(raw).parts
    if raw.startswith("/") or ".." in parts or (parts and ":" in parts[0]) or "\x00" in raw:
        raise ArchiveRefused(
            f"{name}: entry '{info.filename}' has an unsafe path (absolute or with '..'); "
            "the archive was not opened"
        )


def _extract(name: str, archive: zipfile.ZipFile, info: zipfile.ZipInfo, target: Path) -> None:
    written = 0
    try:
        with archive.open(info) as src, open(target, "wb") as dst:
            while block := src.read(READ_BLOCK):
                written += len(block)
                # The central directory can understate sizes: stop at what it promised.
                if written > info.file_size:
                    raise ArchiveRefused(
                        f"{name}: entry '{info.filename}' is larger than its header says"
                    )
                dst.write(block)
    except (
        zipfile.BadZipFile,
        zlib.error,
        OSError,
        EOFError,
        NotImplementedError,
        RuntimeError,
    ) as exc:
        raise ArchiveRefused(f"{name}: entry '{info.filename}' cannot be read ({exc})") from None
