"""Cases and their DICOM series (original | denoised), one Instance per stored file."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


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
    # The study attributes QIDO-RS matches and returns, as the de-identified header of the
    # first stored instance has them (blank when it has none): searched in SQL, never read
    # from files. PatientName and PatientID are the label.
    study_date = models.CharField(max_length=16, blank=True)
    study_time = models.CharField(max_length=32, blank=True)
    # study_time as seconds since midnight (tm_seconds), for time ranges; null when blank
    # or malformed.
    study_time_seconds = models.FloatField(null=True, blank=True)
    accession_number = models.CharField(max_length=64, blank=True)
    study_id = models.CharField(max_length=64, blank=True)
    study_description = models.CharField(max_length=64, blank=True)
    referring_physician_name = models.CharField(max_length=324, blank=True)
    patient_birth_date = models.CharField(max_length=16, blank=True)
    patient_sex = models.CharField(max_length=16, blank=True)

    class Meta:
        ordering = ["-created_at"]
        indexes = [models.Index(fields=["owner", "-created_at"])]

    def __str__(self) -> str:
        return self.label

    def take_study_attributes(self, header) -> list[str]:
        """Copies the study attributes of a DICOM header (anything with .get(keyword));
        returns the names of the fields it set."""
        for keyword, field in STUDY_ATTRIBUTES.items():
            setattr(self, field, header_text(header, keyword)[: _max_length(field)])
        try:
            self.study_time_seconds = tm_seconds(self.study_time) if self.study_time else None
        except ValueError:
            self.study_time_seconds = None
        return [*STUDY_ATTRIBUTES.values(), "study_time_seconds"]

    @property
    def original_series(self) -> Series | None:
        return self.series.filter(kind=Series.Kind.ORIGINAL).first()


# DICOM keyword: the Case field that keeps it.
STUDY_ATTRIBUTES = {
    "StudyDate": "study_date",
    "StudyTime": "study_time",
    "AccessionNumber": "accession_number",
    "StudyID": "study_id",
    "StudyDescription": "study_description",
    "ReferringPhysicianName": "referring_physician_name",
    "PatientBirthDate": "patient_birth_date",
    "PatientSex": "patient_sex",
}


def _max_length(field: str) -> int:
    return Case._meta.get_field(field).max_length


def header_text(header, keyword: str) -> str:
    """An attribute's value as text: blank when absent or empty, values of a multi-valued
    one joined by a backslash (as DICOM encodes them)."""
    value = header.get(keyword, "")
    if value is None:
        return ""
    if isinstance(value, list | tuple):  # pydicom's MultiValue is a list
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def tm_seconds(text: str, upper: bool = False) -> float:
    """A DICOM TM value (HHMMSS.FFFFFF, a leading part of it, colons allowed) as seconds since
    midnight; as an upper bound, a partial value covers its whole span. ValueError when it
    is not a time."""
    hhmmss, _, fraction = text.replace(":", "").partition(".")
    filler = "235959" if upper else "000000"
    hhmmss = hhmmss + filler[len(hhmmss) :]
    seconds = int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + int(hhmmss[4:6])
    if fraction:
        return seconds + float("0." + fraction)
    return seconds + (0.999999 if upper and len(text.replace(":", "")) <= 6 else 0.0)


class SeriesQuerySet(models.QuerySet):
    def denoised(self, case: Case, model) -> Series | None:
        """The series `model` made of `case`, if there is one (at most one: a constraint)."""
        return self.filter(case=case, kind=Series.Kind.DENOISED, denoiser_model=model).first()


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

    objects = SeriesQuerySet.as_manager()

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
