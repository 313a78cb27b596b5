"""Pages of denoising jobs and training (server-rendered, researchers)."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reader_study.access import (
    jobs_user_required,
    visible_denoise_jobs,
    visible_training_jobs,
)
from reader_study.jobs import lifecycle
from reader_study.jobs.forms import DenoiseLaunchForm, TrainingLaunchForm
from reader_study.jobs.launch import launch_training, request_denoise
from reader_study.jobs.training import LOSS_KEYS

# --- denoising jobs ------------------------------------------------------------------------------


@jobs_user_required
@require_GET
def job_list(request: HttpRequest) -> HttpResponse:
    jobs = visible_denoise_jobs(request.user).select_related("output_series")[:500]
    return render(request, "jobs/list.html", {"jobs": jobs})


@jobs_user_required
@require_http_methods(["GET", "POST"])
def job_launch(request: HttpRequest) -> HttpResponse:
    form = DenoiseLaunchForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        model = form.cleaned_data["model"]
        for case in form.cleaned_data["cases"]:
            _, outcome = request_denoise(case, model, request.user)
            messages.info(request, f"{case.label} with {model}: {outcome}.")
        return redirect("job-list")
    return render(request, "jobs/launch.html", {"form": form})


def _act(request, job, action, done: str):
    try:
        action(job)
    except lifecycle.JobActionError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, done)


@jobs_user_required
@require_POST
def job_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_denoise_jobs(request.user), pk=pk)
    _act(request, job, lifecycle.retry, f"Denoising of {job.case.label} queued again.")
    return redirect("job-list")


@jobs_user_required
@require_POST
def job_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_denoise_jobs(request.user), pk=pk)
    by = request.user.get_username()
    _act(
        request, job, lambda j: lifecycle.cancel(j, by), f"Denoising of {job.case.label} cancelled."
    )
    return redirect("job-list")


# --- training ------------------------------------------------------------------------------------


@jobs_user_required
@require_GET
def training_list(request: HttpRequest) -> HttpResponse:
    jobs = visible_training_jobs(request.user)[:200]
    return render(request, "training/list.html", {"jobs": jobs})


@jobs_user_required
@require_http_methods(["GET", "POST"])
def training_launch(request: HttpRequest) -> HttpResponse:
    form = TrainingLaunchForm(request.user, request.POST or None)
    if request.method == "POST" and form.is_valid():
        job = launch_training(
            request.user,
            form.cleaned_data["name"],
            form.options(),
            list(form.cleaned_data["low_dose_cases"]),
            list(form.cleaned_data["normal_dose_cases"]),
        )
        messages.success(request, f"Training of {job.name} queued.")
        return redirect("training-detail", pk=job.pk)
    return render(request, "training/launch.html", {"form": form})


@jobs_user_required
@require_GET
def training_detail(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_training_jobs(request.user), pk=pk)
    epochs = [h for h in job.history if h.get("kind") == "epoch"]
    metric_keys = sorted({k for e in epochs for k in e.get("metrics", {})})
    return render(
        request,
        "training/detail.html",
        {"job": job, "epochs": epochs, "metric_keys": metric_keys, "loss_keys": LOSS_KEYS},
    )


@jobs_user_required
@require_POST
def training_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_training_jobs(request.user), pk=pk)
    by = request.user.get_username()
    _act(request, job, lambda j: lifecycle.cancel(j, by), "Training cancelled.")
    return redirect("training-detail", pk=pk)


@jobs_user_required
@require_POST
def training_retry(request: HttpRequest, pk: int) -> HttpResponse:
    job = get_object_or_404(visible_training_jobs(request.user), pk=pk)
    _act(request, job, lifecycle.retry, "Training queued again; it resumes where it stopped.")
    return redirect("training-detail", pk=pk)
