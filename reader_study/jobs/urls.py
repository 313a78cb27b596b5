"""URLs of denoising jobs and training."""

from django.urls import path

import reader_study.inputs  # noqa: F401  (registers the <id:...> converter)
from reader_study.jobs import api as job_api
from reader_study.jobs import views as job_views

page_urls = [
    path("jobs/", job_views.job_list, name="job-list"),
    path("jobs/new/", job_views.job_launch, name="job-launch"),
    path("jobs/<id:pk>/retry/", job_views.job_retry, name="job-retry"),
    path("jobs/<id:pk>/cancel/", job_views.job_cancel, name="job-cancel"),
    path("training/", job_views.training_list, name="training-list"),
    path("training/new/", job_views.training_launch, name="training-launch"),
    path("training/<id:pk>/", job_views.training_detail, name="training-detail"),
    path("training/<id:pk>/cancel/", job_views.training_cancel, name="training-cancel"),
    path("training/<id:pk>/retry/", job_views.training_retry, name="training-retry"),
]

api_urls = [
    path("api/jobs/", job_api.jobs, name="api-jobs"),
    path("api/jobs/progress/", job_api.jobs_progress, name="api-jobs-progress"),
    path("api/jobs/<id:pk>/", job_api.job_detail, name="api-job"),
    path("api/jobs/<id:pk>/retry/", job_api.job_retry, name="api-job-retry"),
    path("api/jobs/<id:pk>/cancel/", job_api.job_cancel, name="api-job-cancel"),
    path("api/training-jobs/", job_api.training_jobs, name="api-training-jobs"),
    path("api/training-jobs/<id:pk>/", job_api.training_job_detail, name="api-training-job"),
    path(
        "api/training-jobs/<id:pk>/cancel/",
        job_api.training_job_cancel,
        name="api-training-job-cancel",
    ),
    path(
        "api/training-jobs/<id:pk>/retry/",
        job_api.training_job_retry,
        name="api-training-job-retry",
    ),
]

urlpatterns = page_urls + api_urls
