"""Who sees which job: the owner of the case (denoising) or of the training job, and staff."""

from __future__ import annotations

from django.db.models import QuerySet

from reader_study.case_access import can_use_cases, visible_cases
from reader_study.models import DenoiseJob, TrainingJob
from reader_study.roles import role_required

jobs_user_required = role_required(can_use_cases)


def visible_denoise_jobs(user) -> QuerySet[DenoiseJob]:
    return DenoiseJob.objects.filter(case__in=visible_cases(user)).select_related(
        "case", "denoiser_model"
    )


def visible_training_jobs(user) -> QuerySet[TrainingJob]:
    jobs = TrainingJob.objects.select_related("result_model", "owner")
    if user.is_staff or user.is_superuser:
        return jobs
    return jobs.filter(owner=user)
