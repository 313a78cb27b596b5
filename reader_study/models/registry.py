"""The denoiser model registry: registered, versioned checkpoints."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


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
