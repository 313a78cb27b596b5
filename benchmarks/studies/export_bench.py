"""Export and analysis of a large reader study: time and peak memory as scores grow.

    .venv/bin/python benchmarks/studies/export_bench.py [--scores 100000 20000] [--analysis]

Builds each study straight as rows (cases, readers, the stored design's presentations and
random scores) in a scratch database: the embedded SQLite by default, or Postgres when
DATABASE_URL is set (use a scratch database). Then streams the CSV export the way the
download does (`reader_study.studies.export.csv_chunks`) and, with --analysis, runs the
analysis page's computation. Peak memory is Python's (tracemalloc) during each step, so
"flat as scores grow" shows as the same peak for every size.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
VAR = Path(tempfile.mkdtemp(prefix="ldct-bench-studies-"))
os.environ.update(LDCT_VAR_DIR=str(VAR), LDCT_INSECURE_HTTP="1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")

import django  # noqa: E402

django.setup()

import numpy as np  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.utils import timezone  # noqa: E402

from reader_study.access import READER, RESEARCHER, assign_role  # noqa: E402
from reader_study.models import (  # noqa: E402
    Case,
    DenoiserModel,
    Presentation,
    ReaderStudy,
    Score,
    StudyCase,
    StudyReader,
)
from reader_study.studies import criteria, design, export  # noqa: E402

CRITERIA = 3
READERS = 10


def build_study(n_scores: int, tag: str) -> ReaderStudy:
    """A closed study with about `n_scores` scores (10 readers, 3 criteria, 2 sides)."""
    owner = User.objects.get_or_create(username="bench-owner")[0]
    assign_role(owner, RESEARCHER)
    model = DenoiserModel.objects.get_or_create(
        name="bench", version="1", defaults={"sha256": "0" * 64, "checkpoint": "x.pt"}
    )[0]
    study = ReaderStudy.objects.create(
        owner=owner, title=f"bench {tag}", denoiser_model=model, seed=1, state="closed"
    )
    criteria.replace_criteria(study, criteria.default_specs(study.scale))
    n_cases = max(1, n_scores // (READERS * CRITERIA * 2))
    cases = Case.objects.bulk_create(
        Case(owner=owner, label=f"{tag}-case-{n}", study_instance_uid=f"1.2.{tag}.{n}",
             status="ready")
        for n in range(n_cases)
    )  # fmt: skip
    entries = StudyCase.objects.bulk_create(
        StudyCase(study=study, case=c, position=n) for n, c in enumerate(cases)
    )
    members = []
    for r in range(READERS):
        user = User.objects.get_or_create(username=f"bench-reader-{r}")[0]
        assign_role(user, READER)
        members.append(
            StudyReader.objects.create(study=study, user=user, index=r, pseudonym=f"R{r + 1}")
        )
    now = timezone.now()
    rng = np.random.default_rng(0)
    for member in members:
        plan = design.session_one(study.seed, list(range(n_cases)), [], member.index)
        presentations = Presentation.objects.bulk_create(
            Presentation(
                study=study, reader=member, study_case=entries[p.case_index], session=1,
                position=p.position, test_on_a=p.test_on_a, started_at=now, answered_at=now,
                seconds=float(rng.uniform(10, 90)), preference=str(rng.choice(["A", "B"])),
            )
            for p in plan
        )  # fmt: skip
        criteria_rows = list(study.criteria.all())
        Score.objects.bulk_create(
            (
                Score(presentation=p, side=side, criterion=c, value=int(rng.integers(1, 6)))
                for p in presentations
                for c in criteria_rows
                for side in "AB"
            ),
            batch_size=5000,
        )
    return study


def measure(step, *args):
    """(result, seconds, peak MiB): timed on its own, then again under tracemalloc (which
    slows Python several times over) for the peak."""
    started = time.perf_counter()
    result = step(*args)
    seconds = time.perf_counter() - started
    tracemalloc.start()
    step(*args)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    return result, seconds, peak / 2**20


def export_csv(study) -> int:
    return sum(len(chunk) for chunk in export.csv_chunks(study))


def analyse(study) -> dict:
    from reader_study.studies.analysis.views import _compute

    return _compute(study)  # the computation itself, never the cached result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--scores", type=int, nargs="+", default=[20000, 100000])
    parser.add_argument("--analysis", action="store_true")
    args = parser.parse_args()
    call_command("migrate", verbosity=0)
    results = []
    for n in args.scores:
        study = build_study(n, tag=str(n))
        rows = Score.objects.filter(presentation__study=study).count()
        size, seconds, peak = measure(export_csv, study)
        line = {"scores": rows, "csv_bytes": size, "export_s": round(seconds, 2),
                "export_peak_mib": round(peak, 1)}  # fmt: skip
        if args.analysis:
            _, seconds, peak = measure(analyse, study)
            line |= {"analysis_s": round(seconds, 2), "analysis_peak_mib": round(peak, 1)}
        print(json.dumps(line), flush=True)
        results.append(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())
