"""The demo study of a first run: the demo cases, both demo readers, open at once."""

from __future__ import annotations

from reader_study.jobs.launch import request_denoise, run_here
from reader_study.models import Case, DenoiserModel, JobState, ReaderStudy
from reader_study.studies import lifecycle, setup

DEMO_TITLE = "Demo study: shipped denoiser against the original"
DEMO_INSTRUCTIONS = """Score **each image on its own** for image noise, sharpness and
diagnostic confidence. The two images of a case are shown in random order.

- Scroll with the mouse wheel or the arrow keys; keys 1-5 pick a window preset.
- Answers save as you give them; *Submit and next* moves on.
"""


def seed_demo_study(owner, readers, model: DenoiserModel, labels: list[str]) -> str:
    """Creates and opens the demo study once; denoises its cases here if the worker has
    not yet (small cases, seconds). Returns a line for the seed's output."""
    if ReaderStudy.objects.filter(owner=owner, title=DEMO_TITLE).exists():
        return f"  demo study {DEMO_TITLE!r} already there"
    cases = list(Case.objects.filter(owner=owner, label__in=labels, status=Case.Status.READY))
    for case in cases:
        job, _ = request_denoise(case, model, owner)
        if job.state != JobState.SUCCEEDED:
            run_here(job)
    study = setup.create_study(
        owner,
        {
            "title": DEMO_TITLE,
            "instructions": DEMO_INSTRUCTIONS,
            "denoiser_model": model,
            "seed": 20261203,
        },
    )
    setup.set_cases(owner, study, [c.pk for c in cases])
    for reader in readers:
        lifecycle.add_reader(study, reader)
    try:
        created = lifecycle.open_study(study)
    except lifecycle.StudyError as exc:  # e.g. a denoising that failed: left as a draft
        return f"  demo study left as a draft: {exc}"
    return f"  demo study {DEMO_TITLE!r} open: {created} presentations"
