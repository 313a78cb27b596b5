"""Uploads: the browser's chunked, resumable way into ingest."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from reader_study.models.cases import Case


class UploadSession(models.Model):
    """One researcher's upload of one case: files arrive in chunks, then one ingest.

    The row (and its UploadFiles) is the resume point: a reloaded page asks which
    chunks the server already holds and sends only the rest.
    """

    class Status(models.TextChoices):
        OPEN = "open", "Receiving files"
        INGESTED = "ingested", "Ingested"
        FAILED = "failed", "Failed"

    public_id = models.UUIDField(unique=True, editable=False)
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="upload_sessions"
    )
    label = models.CharField(max_length=64)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.OPEN)
    case = models.ForeignKey(
        Case, on_delete=models.SET_NULL, null=True, blank=True, related_name="upload_sessions"
    )
    # The per-file report of the last ingest attempt (what the UI shows).
    report = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"upload {self.label} ({self.status})"


class UploadFile(models.Model):
    """A file the browser announced; its chunks live in storage until it is whole, then its
    de-identified copy (see `verdict`) until ingest."""

    session = models.ForeignKey(UploadSession, on_delete=models.CASCADE, related_name="files")
    # The path the user dropped (folder/sub/file.dcm): shown in the report, never used as a path.
    name = models.CharField(max_length=500)
    size_bytes = models.PositiveBigIntegerField()
    chunk_bytes = models.PositiveIntegerField()
    # Indexes of the chunks stored so far; the browser resumes from the gaps.
    received = models.JSONField(default=list, blank=True)
    # Checked and de-identified on arrival (reader_study.ingest.arrival); null until then.
    verdict = models.JSONField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["session", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "name"], name="one_upload_file_per_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def chunk_count(self) -> int:
        return -(-self.size_bytes // self.chunk_bytes)  # an empty file has no chunks

    @property
    def is_complete(self) -> bool:
        return len(self.received) == self.chunk_count
