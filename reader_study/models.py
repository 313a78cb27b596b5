"""The domain: cases and their DICOM series, denoising models, jobs.

Words follow the design: a Case holds Series (original | denoised), a Series
holds Instances (one DICOM file each, kept in Django storage with a checksum).
A DenoiserModel is a registered, versioned checkpoint; a DenoiseJob turns a
case's original series into a denoised one with one model; a TrainingJob makes
a new DenoiserModel from unpaired low-dose and normal-dose cases. Job rows, not
broker messages, are the source of truth for what has happened.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone


class Case(models.Model):
    class Status(models.TextChoices):
        INGESTING = "ingesting", "Ingesting"
        READY = "ready", "Ready"
        FAILED = "failed", "Failed"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="cases"
    )
    label = models.CharField(max_length=200, help_text="The researcher's own name for the case.")
    # After de-identification: the remapped StudyInstanceUID every series of the case shares.
    study_instance_uid = models.CharField(max_length=64, unique=True)
    # Keyed hash of (owner, source study, source series): finds the case again when the
    # same series is uploaded twice, without keeping the identified UIDs.
    source_key = models.CharField(max_length=64, unique=True, null=True, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.INGESTING)
    status_message = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.label

    @property
    def original_series(self) -> Series | None:
        return self.series.filter(kind=Series.Kind.ORIGINAL).first()


class Series(models.Model):
    class Kind(models.TextChoices):
        ORIGINAL = "original", "Original"
        DENOISED = "denoised", "Denoised"

    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="series")
    kind = models.CharField(max_length=16, choices=Kind.choices)
    denoiser_model = models.ForeignKey(
        "DenoiserModel",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="series",
        help_text="The model that made a denoised series; empty for the original.",
    )
    series_instance_uid = models.CharField(max_length=64, unique=True)
    series_number = models.IntegerField(null=True, blank=True)
    description = models.CharField(max_length=64, blank=True)
    modality = models.CharField(max_length=16, default="CT")
    rows = models.PositiveIntegerField(default=0)
    columns = models.PositiveIntegerField(default=0)
    num_instances = models.PositiveIntegerField(default=0)
    # Acquisition facts shown on the case page: pixel spacing, slice thickness,
    # kVp, tube current, CTDIvol, manufacturer... whatever the headers carry.
    facts = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["case", "kind", "created_at"]
        verbose_name_plural = "series"
        constraints = [
            models.UniqueConstraint(
                fields=["case"],
                condition=Q(kind="original"),
                name="one_original_series_per_case",
            ),
            models.UniqueConstraint(
                fields=["case", "denoiser_model"],
                condition=Q(kind="denoised"),
                name="one_denoised_series_per_case_and_model",
            ),
            models.CheckConstraint(
                condition=Q(kind="original", denoiser_model__isnull=True)
                | Q(kind="denoised", denoiser_model__isnull=False),
                name="denoised_series_names_its_model",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.case} / {self.kind}"


def instance_path(instance: Instance, filename: str) -> str:
    # Paths carry only internal ids: no patient or study identifiers in storage keys.
    return f"cases/{instance.series.case_id}/series/{instance.series_id}/{filename}"


class Instance(models.Model):
    series = models.ForeignKey(Series, on_delete=models.CASCADE, related_name="instances")
    sop_instance_uid = models.CharField(max_length=64, unique=True)
    sop_class_uid = models.CharField(max_length=64)
    transfer_syntax_uid = models.CharField(max_length=64)
    instance_number = models.IntegerField(null=True, blank=True)
    # Position along the slice normal (mm); reading order of the series.
    slice_position = models.FloatField(null=True, blank=True)
    number_of_frames = models.PositiveIntegerField(default=1)
    file = models.FileField(upload_to=instance_path, max_length=255)
    size_bytes = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)

    class Meta:
        ordering = ["series", "slice_position", "instance_number"]

    def __str__(self) -> str:
        return self.sop_instance_uid


def checkpoint_path(model: DenoiserModel, filename: str) -> str:
    return f"models/{model.name}/{model.version}/{filename}"


class DenoiserModel(models.Model):
    name = models.SlugField(max_length=64)
    version = models.CharField(max_length=32)
    checkpoint = models.FileField(upload_to=checkpoint_path, max_length=255)
    sha256 = models.CharField(max_length=64)
    config = models.JSONField(default=dict, blank=True)
    model_card = models.TextField(blank=True)
    metrics = models.JSONField(default=dict, blank=True)
    is_default = models.BooleanField(
        default=False, help_text="Used for new cases' automatic denoising."
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["name", "version"], name="unique_model_version"),
            models.UniqueConstraint(
                fields=["is_default"], condition=Q(is_default=True), name="one_default_model"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)


class JobFields(models.Model):
    """What every long-running job records, so a sweeper can tell live from lost work."""

    state = models.CharField(max_length=16, choices=JobState.choices, default=JobState.QUEUED)
    message = models.TextField(blank=True, help_text="For the researcher: why it failed.")
    progress_done = models.PositiveIntegerField(default=0)
    progress_total = models.PositiveIntegerField(default=0)
    attempts = models.PositiveIntegerField(default=0)
    max_attempts = models.PositiveIntegerField(default=3)
    celery_task_id = models.CharField(max_length=64, blank=True)
    worker = models.CharField(max_length=255, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True

    @property
    def is_active(self) -> bool:
        return self.state in ACTIVE_STATES

    @property
    def progress_fraction(self) -> float:
        return self.progress_done / self.progress_total if self.progress_total else 0.0

    def beat(self) -> None:
        self.heartbeat_at = timezone.now()


class DenoiseJob(JobFields):
    case = models.ForeignKey(Case, on_delete=models.CASCADE, related_name="denoise_jobs")
    denoiser_model = models.ForeignKey(
        DenoiserModel, on_delete=models.PROTECT, related_name="denoise_jobs"
    )
    output_series = models.OneToOneField(
        Series, on_delete=models.SET_NULL, null=True, blank=True, related_name="denoise_job"
    )

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            # One job per (case, model): a retry reuses the row, never a second series.
            models.UniqueConstraint(
                fields=["case", "denoiser_model"], name="one_job_per_case_model"
            )
        ]

    def __str__(self) -> str:
        return f"denoise {self.case} with {self.denoiser_model} ({self.state})"


class TrainingJob(JobFields):
    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="training_jobs"
    )
    name = models.SlugField(max_length=64, help_text="Name of the model it will register.")
    options = models.JSONField(default=dict, blank=True)
    low_dose_cases = models.ManyToManyField(Case, related_name="+")
    normal_dose_cases = models.ManyToManyField(Case, related_name="+")
    # Epoch by epoch: losses and validation metrics, for the live page and the model card.
    history = models.JSONField(default=list, blank=True)
    result_model = models.OneToOneField(
        DenoiserModel, on_delete=models.SET_NULL, null=True, blank=True, related_name="training_job"
    )

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"train {self.name} ({self.state})"


# --- Uploads: the browser's chunked, resumable way into ingest -------------------------------


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
