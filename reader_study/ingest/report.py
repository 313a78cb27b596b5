"""What ingest tells the user: one line per file, what became a Case, and why not."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

ACCEPTED = "accepted"
DUPLICATE = "duplicate"
SKIPPED = "skipped"
REJECTED = "rejected"


@dataclass
class SourceFile:
    """One file to ingest: the name the user knows it by and a local copy of its bytes."""

    name: str
    path: Path | None
    size: int
    # The bytes in memory instead of a local copy (a file that arrived in one request).
    data: bytes | None = None
    # What `ingest.arrival.examine` found when the file arrived; spares ingest the work.
    verdict: dict | None = None


@dataclass
class FileResult:
    name: str
    status: str
    reason: str = ""
    # For STOW-RS: the DICOM failure reason of a refused file (0 when not refused).
    code: int = 0


@dataclass
class IngestReport:
    ok: bool
    message: str
    files: list[FileResult] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    case: dict | None = None
    # When the upload holds several series: the choices, so the user can pick one.
    series_choices: list[dict] = field(default_factory=list)

    def counts(self) -> dict[str, int]:
        out = {ACCEPTED: 0, DUPLICATE: 0, SKIPPED: 0, REJECTED: 0}
        for item in self.files:
            out[item.status] += 1
        return out

    def as_dict(self) -> dict:
        data = asdict(self)
        data["counts"] = self.counts()
        return data


class IngestError(Exception):
    """Nothing was stored; `status` is the HTTP status that says why, `report` the details."""

    def __init__(self, status: int, report: IngestReport):
        super().__init__(report.message)
        self.status = status
        self.report = report


def refuse(
    status: int, message: str, files: list[FileResult] | None = None, **extra
) -> IngestError:
    return IngestError(status, IngestReport(ok=False, message=message, files=files or [], **extra))
