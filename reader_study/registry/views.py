"""Pages of the model registry: the list, uploading a checkpoint, choosing the default."""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_POST

from reader_study.access import jobs_user_required
from reader_study.models import DenoiserModel
from reader_study.registry import service as registry
from reader_study.registry.forms import ModelUploadForm


@jobs_user_required
@require_GET
def model_list(request: HttpRequest, form: ModelUploadForm | None = None) -> HttpResponse:
    models = DenoiserModel.objects.select_related("created_by").order_by("name", "-created_at")
    return render(
        request,
        "registry/list.html",
        {
            "models": models,
            "may_set_default": registry.may_set_default(request.user),
            "form": form or ModelUploadForm(user=request.user),
        },
        status=400 if form is not None else 200,
    )


@jobs_user_required
@require_POST
def model_upload(request: HttpRequest) -> HttpResponse:
    form = ModelUploadForm(request.POST, request.FILES, user=request.user)
    if form.is_valid():
        upload = form.cleaned_data["checkpoint"]
        try:
            model = registry.register_checkpoint(
                upload,
                filename=upload.name,
                name=form.cleaned_data["name"],
                version=form.cleaned_data["version"],
                created_by=request.user,
                make_default=form.cleaned_data.get("make_default", False),
            )
        except registry.RegistryError as exc:
            form.add_error("checkpoint", str(exc))
        else:
            messages.success(request, f"Model {model} registered (checked by loading it).")
            return redirect("model-list")
    request.method = "GET"  # render the list page with the form's errors
    return model_list(request, form=form)


@jobs_user_required
@require_POST
def model_set_default(request: HttpRequest, pk: int) -> HttpResponse:
    model = get_object_or_404(DenoiserModel, pk=pk)
    try:
        registry.set_default(model, by=request.user)
    except registry.DefaultRefused as exc:
        messages.error(request, str(exc))
        return redirect("model-list")
    messages.success(request, f"New cases are now denoised with {model}.")
    return redirect("model-list")
