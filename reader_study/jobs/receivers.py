"""Reacting to ingest: a case whose original series is stored gets denoised by the default."""

from __future__ import annotations

import logging

from django.dispatch import receiver

from reader_study.signals import case_ready

log = logging.getLogger(__name__)


@receiver(case_ready, dispatch_uid="reader_study.jobs.denoise_ready_case")
def denoise_ready_case(sender, case, **kwargs) -> None:
    """Runs inside the ingest transaction; the message goes out only once it commits."""
    from reader_study.jobs.launch import request_denoise
    from reader_study.registry import service as registry

    model = registry.default_model()
    if model is None:
        log.warning("case %s is ready but no default model is registered; not denoised", case.pk)
        return
    request_denoise(case, model, user=case.owner)
