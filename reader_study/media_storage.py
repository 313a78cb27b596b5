"""Local media storage where a file appears whole or not at all.

Django's FileSystemStorage writes straight into the file's final name, so a write cut
short (the disk full, the process killed) leaves a part of it there, which later reads
take for the file. Here the bytes go to a hidden temporary file beside it first and are
renamed into place only once complete (a rename within a folder is atomic); a failed write
removes its temporary file.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from pathlib import Path

from django.core.files.base import File
from django.core.files.storage import FileSystemStorage

PARTIAL_PREFIX = ".partial-"


class _WrittenFile(File):
    """A complete temporary file, handed to FileSystemStorage to move into place."""

    def temporary_file_path(self) -> str:
        return self.name


class WholeFileStorage(FileSystemStorage):
    def _save(self, name, content):
        if hasattr(content, "temporary_file_path"):
            return super()._save(name, content)  # already whole on disk: moved by rename
        folder = Path(self.path(name)).parent
        os.makedirs(folder, exist_ok=True)
        partial = folder / f"{PARTIAL_PREFIX}{uuid.uuid4().hex}"
        try:
            # os.open applies the umask to 0o666, as FileSystemStorage does for its files.
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
            with os.fdopen(fd, "wb") as out:
                for chunk in content.chunks():
                    out.write(chunk.encode() if isinstance(chunk, str) else chunk)
            return super()._save(name, _WrittenFile(None, name=str(partial)))
        finally:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(partial)
