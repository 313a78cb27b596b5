"""Registers the shipped denoiser weights (denoiser/weights/default.pt) as a model version."""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from reader_study.registry import service as registry


class Command(BaseCommand):
    help = "Register the shipped default denoiser weights (idempotent; default if none is set)."

    def handle(self, *args, **options) -> None:
        model = registry.register_default_model()
        if model is None:
            raise CommandError(f"No shipped weights at {registry.shipped_checkpoint()}.")
        flag = " (default)" if model.is_default else ""
        self.stdout.write(f"Registered {model}{flag}, sha256 {model.sha256[:12]}")
