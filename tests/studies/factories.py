"""Studies over small real cases: ingested phantoms denoised in-process by a tiny model."""

from __future__ import annotations

from reader_study.jobs.launch import request_denoise, run_here
from reader_study.models import DenoiserModel, ReaderStudy
from reader_study.studies import lifecycle, setup
from reader_study.studies.criteria import DEFAULT_CRITERIA
from tests.conftest import make_user
from tests.jobs.factories import ingest_case, register_tiny


def denoised_cases(owner, count: int, model: DenoiserModel | None = None, prefix="case"):
    """`count` ready cases of `owner`, each with its series denoised by `model`."""
    model = model or DenoiserModel.objects.filter(is_default=True).first() or register_tiny()
    cases = []
    for n in range(count):
        case = ingest_case(owner, f"{prefix}-{n}", seed=n)
        job, _ = request_denoise(case, model, owner)
        run_here(job)
        cases.append(case)
    return cases, model


def make_study(owner, cases, model, readers, *, open_it=True, **options) -> ReaderStudy:
    study = setup.create_study(owner, {"title": "Test study", "denoiser_model": model, **options})
    setup.set_cases(owner, study, [c.pk for c in cases])
    for user in readers:
        lifecycle.add_reader(study, user)
    if open_it:
        lifecycle.open_study(study)
        study.refresh_from_db()
    return study


def readers(count: int, prefix: str = "reader"):
    return [make_user(f"{prefix}{n}", "reader") for n in range(count)]


# The keys of the questions a study asks unless its owner changes them.
CRITERIA = tuple(c["key"] for c in DEFAULT_CRITERIA)


def all_scores(value: int = 4) -> list[dict]:
    """Every question of a presentation with the default criteria answered `value`: each
    criterion in turn, side A then side B."""
    return [{"side": side, "criterion": key, "value": value} for key in CRITERIA for side in "AB"]
