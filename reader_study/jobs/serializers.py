"""The JSON shape of jobs and models, shared by the API and the live-progress poller."""

from __future__ import annotations

from django.urls import reverse

from reader_study.models import DenoiseJob, DenoiserModel, TrainingJob


def _common(job) -> dict:
    return {
        "id": job.pk,
        "state": job.state,
        "state_label": job.get_state_display(),
        "message": job.message,
        "progress_done": job.progress_done,
        "progress_total": job.progress_total,
        "attempts": job.attempts,
        "max_attempts": job.max_attempts,
        "worker": job.worker,
        "heartbeat_at": job.heartbeat_at,
        "created_at": job.created_at,
        "started_at": job.started_at,
        "finished_at": job.finished_at,
        "can_retry": job.can_retry,
        "can_cancel": job.is_active,
    }


def denoise_job(job: DenoiseJob) -> dict:
    return {
        **_common(job),
        "kind": "denoise",
        "case": {"id": job.case_id, "label": job.case.label},
        "model": {"id": job.denoiser_model_id, "name": str(job.denoiser_model)},
        "output_series": job.output_series_id,
        "output_series_uid": job.output_series.series_instance_uid if job.output_series else None,
        "url": reverse("api-job", args=[job.pk]),
    }


def training_job(job: TrainingJob, history: bool = True) -> dict:
    data = {
        **_common(job),
        "kind": "training",
        "name": job.name,
        "owner": job.owner.get_username(),
        "options": job.options,
        "low_dose_cases": list(job.low_dose_cases.values_list("pk", flat=True)),
        "normal_dose_cases": list(job.normal_dose_cases.values_list("pk", flat=True)),
        "result_model": job.result_model_id,
        "url": reverse("api-training-job", args=[job.pk]),
    }
    if history:
        data["history"] = job.history
    return data


def model(m: DenoiserModel, viewer) -> dict:
    """A registry entry as `viewer` may see it: who uploaded it only to staff and the uploader."""
    return {
        "id": m.pk,
        "name": m.name,
        "version": m.version,
        "sha256": m.sha256,
        "is_default": m.is_default,
        "model_card": m.model_card,
        "metrics": m.metrics,
        "config": m.config,
        "created_by": _uploader(m, viewer),
        "uploaded_by_you": m.created_by_id is not None and m.created_by_id == viewer.pk,
        "created_at": m.created_at,
    }


def _uploader(m: DenoiserModel, viewer) -> str | None:
    if m.created_by is None:
        return None  # shipped with the product
    if viewer.is_staff or viewer.is_superuser or m.created_by_id == viewer.pk:
        return m.created_by.get_username()
    return "another researcher"
