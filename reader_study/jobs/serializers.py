"""The JSON shape of jobs and models, shared by the API and the live-progress poller."""

from __future__ import annotations

from django.urls import reverse
from drf_spectacular.utils import PolymorphicProxySerializer
from rest_framework import serializers

from reader_study.inputs import MAX_ID, MAX_IDS
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


# --- the same shapes, declared for the OpenAPI schema --------------------------------------------


def _ids(help_text: str) -> serializers.ListField:
    return serializers.ListField(
        child=serializers.IntegerField(min_value=1, max_value=MAX_ID),
        min_length=1,
        max_length=MAX_IDS,
        help_text=help_text,
    )


class JobSerializer(serializers.Serializer):
    """What every job shows (`_common`)."""

    id = serializers.IntegerField()
    state = serializers.CharField(
        help_text="`queued`, `running`, `succeeded`, `failed` or `cancelled`."
    )
    state_label = serializers.CharField()
    message = serializers.CharField(allow_blank=True, help_text="Why it failed, if it did.")
    progress_done = serializers.IntegerField()
    progress_total = serializers.IntegerField()
    attempts = serializers.IntegerField()
    max_attempts = serializers.IntegerField()
    worker = serializers.CharField(allow_blank=True)
    heartbeat_at = serializers.DateTimeField(allow_null=True)
    created_at = serializers.DateTimeField()
    started_at = serializers.DateTimeField(allow_null=True)
    finished_at = serializers.DateTimeField(allow_null=True)
    can_retry = serializers.BooleanField()
    can_cancel = serializers.BooleanField()


class JobCaseSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    label = serializers.CharField()


class JobModelSerializer(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField(help_text="Name and version.")


class DenoiseJobSerializer(JobSerializer):
    """A denoising job: one case, one model (`denoise_job`)."""

    kind = serializers.CharField(help_text="Always `denoise`.")
    case = JobCaseSerializer()
    model = JobModelSerializer()
    output_series = serializers.IntegerField(allow_null=True)
    output_series_uid = serializers.CharField(allow_null=True)
    url = serializers.CharField()


class DenoiseJobListSerializer(serializers.Serializer):
    results = DenoiseJobSerializer(many=True)


class DenoiseJobInputSerializer(serializers.Serializer):
    cases = _ids(f"Ready cases of yours (at most {MAX_IDS}).")
    model = serializers.IntegerField(
        min_value=1,
        max_value=MAX_ID,
        required=False,
        allow_null=True,
        help_text="The model; the registry's default when absent.",
    )


class DenoiseJobCreatedSerializer(DenoiseJobSerializer):
    outcome = serializers.CharField(
        help_text="What happened: `queued`, `queued again`, `already denoised`, `already ...`."
    )


class DenoiseJobCreatedListSerializer(serializers.Serializer):
    results = DenoiseJobCreatedSerializer(many=True)


class TrainingJobSummarySerializer(JobSerializer):
    """A training job, as lists show it (`training_job(job, history=False)`)."""

    kind = serializers.CharField(help_text="Always `training`.")
    name = serializers.CharField()
    owner = serializers.CharField(help_text="The owner's username.")
    options = serializers.DictField(help_text="The training options (TrainingOptions).")
    low_dose_cases = _ids("Case ids.")
    normal_dose_cases = _ids("Case ids.")
    result_model = serializers.IntegerField(
        allow_null=True, help_text="The model it registered, once it succeeded."
    )
    url = serializers.CharField()


class TrainingJobSerializer(TrainingJobSummarySerializer):
    """One training job, with its history (`training_job(job)`)."""

    history = serializers.ListField(
        child=serializers.DictField(), help_text="Losses and validation metrics, epoch by epoch."
    )


class TrainingJobListSerializer(serializers.Serializer):
    results = TrainingJobSummarySerializer(many=True)


class TrainingJobInputSerializer(serializers.Serializer):
    name = serializers.SlugField(help_text="Name of the model it will register.")
    low_dose_cases = _ids("Ready cases of yours: the low-dose domain.")
    normal_dose_cases = _ids("Ready cases of yours: the normal-dose domain (no overlap).")
    options = serializers.DictField(
        required=False,
        help_text="Training options (epochs, batch_size, lr...); defaults if absent.",
    )


class DenoiserModelSerializer(serializers.Serializer):
    """A registered, versioned checkpoint, as the caller may see it (`model`)."""

    id = serializers.IntegerField()
    name = serializers.CharField()
    version = serializers.CharField()
    sha256 = serializers.CharField()
    is_default = serializers.BooleanField()
    model_card = serializers.CharField(allow_blank=True)
    metrics = serializers.DictField()
    config = serializers.DictField()
    created_by = serializers.CharField(
        allow_null=True,
        help_text="The uploader (to staff and the uploader), `another researcher`, or null for "
        "a model shipped with the product.",
    )
    uploaded_by_you = serializers.BooleanField()
    created_at = serializers.DateTimeField()


class DenoiserModelListSerializer(serializers.Serializer):
    results = DenoiserModelSerializer(many=True)


class DenoiserModelUploadSerializer(serializers.Serializer):
    checkpoint = serializers.FileField(help_text="The checkpoint file.")
    name = serializers.CharField(required=False, allow_blank=True)
    version = serializers.CharField(required=False, allow_blank=True)
    make_default = serializers.BooleanField(
        required=False, help_text="Make it the default for new cases (staff only)."
    )


class JobProgressListSerializer(serializers.Serializer):
    """Denoising jobs, or training jobs with `?kind=training`; `kind` tells them apart."""

    results = PolymorphicProxySerializer(
        component_name="JobProgress",
        serializers={"denoise": DenoiseJobSerializer, "training": TrainingJobSummarySerializer},
        resource_type_field_name="kind",
        many=True,
    )
