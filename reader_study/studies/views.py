"""The researcher's study pages: list, set-up, criteria, progress, export and analysis."""

from __future__ import annotations

from django.contrib import messages
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from reader_study import access
from reader_study.access import jobs_user_required
from reader_study.studies import criteria, lifecycle, setup
from reader_study.studies.forms import CriterionFormSet, StudyForm
from reader_study.studies.lifecycle import StudyError
from reader_study.studies.markdown import render_markdown
from reader_study.studies.progress import progress


@require_GET
@jobs_user_required
def study_list(request: HttpRequest) -> HttpResponse:
    studies = access.owned_studies(request.user).prefetch_related("readers", "study_cases")
    return render(request, "studies/list.html", {"studies": studies})


@require_http_methods(["GET", "POST"])
@jobs_user_required
def study_new(request: HttpRequest) -> HttpResponse:
    return _edit(request, None)


@require_http_methods(["GET", "POST"])
def study_edit(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.study_of_owner(request.user, pk)
    if not study.is_draft:
        messages.error(request, "An opened study's set-up is locked.")
        return redirect("study-detail", pk=pk)
    return _edit(request, study)


def _edit(request: HttpRequest, study) -> HttpResponse:
    form = StudyForm(request.POST or None, instance=study, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            study = _save(request, form, study)
        except StudyError as exc:
            form.add_error(None, str(exc))
        else:
            messages.success(request, f"Study “{study.title}” saved.")
            return redirect("study-detail", pk=study.pk)
    status = 400 if request.method == "POST" else 200
    return render(request, "studies/edit.html", {"form": form, "study": study}, status=status)


def _save(request: HttpRequest, form: StudyForm, study):
    fields = {name: form.cleaned_data[name] for name in setup.OPTION_FIELDS}
    if fields["seed"] is None:
        fields.pop("seed")
    cases = list(form.cleaned_data["cases"])
    training = list(form.cleaned_data["training_cases"])
    with transaction.atomic():
        if study is None:
            study = setup.create_study(request.user, fields)
        else:
            setup.update_study(study, fields)
        ids = [c.pk for c in training] + [c.pk for c in cases if c not in training]
        setup.set_cases(request.user, study, ids, [c.pk for c in training])
        wanted = form.reader_names()
        for member in study.readers.select_related("user"):
            if member.user.username not in wanted and member.user.email not in wanted:
                lifecycle.remove_reader(study, member)
        setup.add_readers(study, wanted)
    return study


@require_GET
def study_detail(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.study_of_owner(request.user, pk)
    problems = lifecycle.missing_series(study) if study.is_draft else []
    return render(
        request,
        "studies/detail.html",
        {
            "study": study,
            "progress": progress(study),
            "problems": problems,
            "instructions_html": render_markdown(study.instructions),
            "exports": study.exports.select_related("user")[:10],
        },
    )


@require_http_methods(["GET", "POST"])
def study_criteria(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.study_of_owner(request.user, pk)
    initial = [
        {
            "label": c.label,
            "key": c.key,
            "required": c.required,
            **{f"anchor_{n}": lv["anchor"] for n, lv in enumerate(c.levels, start=1)},
        }
        for c in study.criteria.all()
    ]
    formset = CriterionFormSet(request.POST or None, initial=initial)
    if request.method == "POST" and formset.is_valid():
        values = criteria.RELATIVE_VALUES if study.scale == "relative" else criteria.ABSOLUTE_VALUES
        specs = [
            {
                "label": f["label"],
                "key": f["key"] or f["label"],
                "required": f["required"],
                "levels": criteria.levels(values, [f[f"anchor_{n}"] for n in range(1, 6)]),
            }
            for f in formset.cleaned_data
            if f and not f.get("DELETE")
        ]
        try:
            setup.set_criteria(study, specs)
        except StudyError as exc:
            messages.error(request, str(exc))
        else:
            messages.success(request, "Criteria saved.")
            return redirect("study-detail", pk=study.pk)
    return render(request, "studies/criteria.html", {"study": study, "formset": formset})


@require_POST
def study_open(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.study_of_owner(request.user, pk)
    try:
        created = lifecycle.open_study(study)
    except StudyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, f"Study opened: {created} presentations stored.")
    return redirect("study-detail", pk=pk)


@require_POST
def study_close(request: HttpRequest, pk: int) -> HttpResponse:
    study = access.study_of_owner(request.user, pk)
    try:
        lifecycle.close_study(study)
    except StudyError as exc:
        messages.error(request, str(exc))
    else:
        messages.success(request, "Study closed: answers are final.")
    return redirect("study-detail", pk=pk)
