"""Long-running work: denoising a case with a model, training a new model.

Job rows, not broker messages, are the source of truth for what has happened."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from reader_study.models.cases import Case, Series
from reader_study.models.registry import DenoiserModel


class JobState(models.TextChoices):
    QUEUED = "queued", "Queued"
    RUNNING = "running", "Running"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    CANCELLED = "cancelled", "Cancelled"


ACTIVE_STATES = (JobState.QUEUED, JobState.RUNNING)
# A job that ended without success can be queued again (it resumes where it can).
RETRYABLE_STATES = (JobState.FAILED, JobState.CANCELLED)


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
    def can_retry(self) -> bool:
        return self.state in RETRYABLE_STATES

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
