"""Reader studies: who reads which cases, in what order, with which side denoised, and scores.

A ReaderStudy compares two conditions of each case: by default the original series against
the series its denoiser model made; or two models' series. Opening the study stores one
Presentation per (reader, session, case): the reading order and which condition is shown as
A (left) and B (right). Scores name only the presentation and the side, so nothing a reader
sends or receives names the condition; exports join them back for the researcher.
"""

from __future__ import annotations

import secrets

from django.conf import settings
from django.db import models
from django.db.models import Q

from reader_study.models.cases import Case, Series
from reader_study.models.registry import DenoiserModel

SIDES = ("A", "B")
ORIGINAL = "original"


def new_token() -> str:
    """An opaque, unguessable key (192 bits) for a URL a reader may see."""
    return secrets.token_urlsafe(24)


class StudyQuerySet(models.QuerySet):
    def owned_by(self, user):
        """The studies `user` set up (staff: all)."""
        if user is None or not user.is_authenticated:
            return self.none()
        if user.is_staff or user.is_superuser:
            return self
        return self.filter(owner=user)

    def read_by(self, user):
        """The studies `user` is a reader of, draft ones left out."""
        if user is None or not user.is_authenticated:
            return self.none()
        return self.filter(readers__user=user).exclude(state=ReaderStudy.State.DRAFT).distinct()


class ReaderStudy(models.Model):
    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        OPEN = "open", "Open"
        CLOSED = "closed", "Closed"

    class Scale(models.TextChoices):
        ABSOLUTE = "absolute", "Absolute (each image on its own)"
        RELATIVE = "relative", "Relative (B compared with A, -2 to +2)"

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="owned_studies"
    )
    title = models.CharField(max_length=200)
    instructions = models.TextField(blank=True, help_text="Markdown, shown to readers.")
    state = models.CharField(max_length=16, choices=State.choices, default=State.DRAFT)
    denoiser_model = models.ForeignKey(
        DenoiserModel, on_delete=models.PROTECT, related_name="studies"
    )
    # Empty: original against `denoiser_model`'s series. Set: that model's series against
    # this model's series (two models compared on the same cases).
    comparison_model = models.ForeignKey(
        DenoiserModel, on_delete=models.PROTECT, null=True, blank=True, related_name="+"
    )
    scale = models.CharField(max_length=16, choices=Scale.choices, default=Scale.ABSOLUTE)
    ask_preference = models.BooleanField(default=True)
    ask_comment = models.BooleanField(default=True)
    allow_revise = models.BooleanField(default=True)
    default_preset = models.CharField(max_length=16, default="abdomen")
    allow_window_change = models.BooleanField(default=True)
    seed = models.PositiveIntegerField(help_text="Randomisation seed: same seed, same design.")
    # Repeated reading: this share of each reader's cases is read again in a session 2,
    # in a fresh order and side assignment, `washout_days` after the reader ends session 1.
    repeat_fraction = models.FloatField(default=0.0)
    washout_days = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True)
    opened_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)

    objects = StudyQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at"]
        verbose_name_plural = "reader studies"
        constraints = [
            models.CheckConstraint(
                condition=Q(repeat_fraction__gte=0) & Q(repeat_fraction__lte=1),
                name="repeat_fraction_is_a_share",
            )
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_draft(self) -> bool:
        return self.state == self.State.DRAFT

    @property
    def sessions(self) -> int:
        return 2 if self.repeat_fraction > 0 else 1

    def conditions(self) -> tuple[str, str]:
        """(reference, test) condition names, as the export spells them."""
        if self.comparison_model is None:
            return ORIGINAL, "denoised"
        reference = f"{self.denoiser_model.name} {self.denoiser_model.version}"
        test = f"{self.comparison_model.name} {self.comparison_model.version}"
        return reference, test

    def series_pair(self, case: Case) -> tuple[Series | None, Series | None]:
        """(reference, test) series of `case` under this study's comparison."""
        test = Series.objects.denoised(case, self.comparison_model or self.denoiser_model)
        if self.comparison_model is None:
            return case.original_series, test
        return Series.objects.denoised(case, self.denoiser_model), test


class Criterion(models.Model):
    """One question asked of each image, on a scale with anchor text for every level."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="criteria")
    key = models.SlugField(max_length=40)
    label = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0)
    required = models.BooleanField(default=True)
    # [{"value": 1, "anchor": "Unacceptable"}, ...], lowest first.
    levels = models.JSONField(default=list)

    class Meta:
        ordering = ["study", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "key"], name="one_criterion_per_key")
        ]

    def __str__(self) -> str:
        return self.label

    @property
    def values(self) -> list[int]:
        return [int(level["value"]) for level in self.levels]

    def label_of(self, value: int) -> str:
        return next((lv["anchor"] for lv in self.levels if int(lv["value"]) == value), "")


class StudyCase(models.Model):
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="study_cases")
    case = models.ForeignKey(Case, on_delete=models.PROTECT, related_name="study_cases")
    position = models.PositiveIntegerField(default=0)
    # Shown first to every reader, and left out of exports and results.
    is_training = models.BooleanField(default=False)
    # Slices shown (0-based, stop excluded, in slice order); empty: the whole series.
    slice_start = models.PositiveIntegerField(null=True, blank=True)
    slice_stop = models.PositiveIntegerField(null=True, blank=True)

    class Meta:
        ordering = ["study", "position", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "case"], name="one_entry_per_study_case")
        ]

    def __str__(self) -> str:
        return f"{self.study} / {self.case}"


class StudyReader(models.Model):
    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="readers")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="study_memberships"
    )
    # Index in the balanced side assignment, and the name exports use ("R1", "R2", ...).
    index = models.PositiveIntegerField()
    pseudonym = models.CharField(max_length=16)
    added_at = models.DateTimeField(auto_now_add=True)
    # When the reader answered the last presentation of session 1 (the washout starts).
    session1_done_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["study", "index"]
        constraints = [
            models.UniqueConstraint(fields=["study", "user"], name="one_membership_per_reader"),
            models.UniqueConstraint(fields=["study", "index"], name="one_reader_per_index"),
        ]

    def __str__(self) -> str:
        return f"{self.pseudonym} in {self.study}"


class Presentation(models.Model):
    """One reader, one case, one session: its place in the reading order and the sides."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="presentations")
    reader = models.ForeignKey(StudyReader, on_delete=models.CASCADE, related_name="presentations")
    study_case = models.ForeignKey(
        StudyCase, on_delete=models.PROTECT, related_name="presentations"
    )
    session = models.PositiveSmallIntegerField(default=1)
    position = models.PositiveIntegerField(help_text="1-based place in this reader's session.")
    # Which condition is on the left: True for the test condition (the denoised series, or
    # the comparison model's), False for the reference (the original, or the first model's).
    test_on_a = models.BooleanField()
    token = models.CharField(max_length=64, unique=True, default=new_token)
    token_a = models.CharField(max_length=64, unique=True, default=new_token)
    token_b = models.CharField(max_length=64, unique=True, default=new_token)
    started_at = models.DateTimeField(null=True, blank=True)
    answered_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(null=True, blank=True)
    seconds = models.FloatField(default=0.0, help_text="Focused reading time.")
    preference = models.CharField(max_length=8, blank=True)  # "A", "B", "none" or ""
    comment = models.TextField(blank=True)
    # How the images were read: compact events [ms, kind, ...] (slices, window, zoom).
    interactions = models.JSONField(default=list, blank=True)

    class Meta:
        ordering = ["study", "reader", "session", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["reader", "session", "study_case"], name="one_presentation_per_reading"
            ),
            models.UniqueConstraint(
                fields=["reader", "session", "position"], name="one_presentation_per_place"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.reader} session {self.session} #{self.position}"


class Score(models.Model):
    presentation = models.ForeignKey(Presentation, on_delete=models.CASCADE, related_name="scores")
    side = models.CharField(max_length=1, choices=[(s, s) for s in SIDES])
    criterion = models.ForeignKey(Criterion, on_delete=models.PROTECT, related_name="scores")
    value = models.IntegerField()
    answered_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["presentation", "criterion__position", "side"]
        constraints = [
            # Re-sending an answer updates it: never two rows for one question.
            models.UniqueConstraint(
                fields=["presentation", "side", "criterion"], name="one_score_per_question"
            )
        ]

    def __str__(self) -> str:
        return f"{self.presentation} {self.criterion.key} {self.side}={self.value}"


class ExportRecord(models.Model):
    """Who took which export of a study, and when (the audit log)."""

    study = models.ForeignKey(ReaderStudy, on_delete=models.CASCADE, related_name="exports")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=32)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.kind} of {self.study} by {self.user} at {self.created_at:%Y-%m-%d %H:%M}"
