"""Seeds the load test's deployment: readers, researchers, an open study, upload series.

    .venv/bin/python benchmarks/trust/load/seed.py --plan PLAN.json [--readers 50]
        [--cases 8] [--slices 24] [--size 256] [--uploaders 5] [--upload-sets 8]
        [--upload-slices 32] [--upload-size 256]

Runs against the deployment its environment names (DATABASE_URL, CELERY_BROKER_URL,
LDCT_VAR_DIR), which run_load.py makes fresh for each run. Creates `--readers` reader
accounts, one researcher who owns an open study of `--cases` cases (simulated low-dose
phantoms of `--slices` slices of `--size`^2 pixels, ingested like uploads and denoised
in this process by the shipped model, as the demo seed does: no worker needed), every
reader on it; `--uploaders` researcher accounts, and for each of them `--upload-sets`
DICOM series on disk (new UIDs each, so every upload makes a new case) for locust to
upload. Writes what locust needs (logins, study, upload folders) to the plan JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")

import django  # noqa: E402
import numpy as np  # noqa: E402

django.setup()

from importlib import import_module  # noqa: E402

from django.conf import settings  # noqa: E402
from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY  # noqa: E402
from django.contrib.auth.hashers import make_password  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402

from denoiser.dicom.write import write_series  # noqa: E402
from denoiser.phantoms import abdominal_phantom  # noqa: E402
from reader_study.access import READER, RESEARCHER, assign_role  # noqa: E402
from reader_study.ingest.report import SourceFile  # noqa: E402
from reader_study.ingest.service import ingest  # noqa: E402
from reader_study.jobs.launch import request_denoise, run_here  # noqa: E402
from reader_study.models import Case, JobState, ReaderStudy  # noqa: E402
from reader_study.registry.service import register_default_model  # noqa: E402
from reader_study.studies import lifecycle, setup  # noqa: E402

PASSWORD = "load-test-password-1"
OWNER = "load-owner"
STUDY_TITLE = "Load test study"


def noisy_volume(seed: int, slices: int, size: int) -> tuple[np.ndarray, float]:
    """A phantom stack with white noise: serving, reading and scoring cost nothing more for
    realism (the demo's projection-domain simulation would take minutes at 512^2). The
    reading benchmark's cases too."""
    phantom = abdominal_phantom(size, seed)
    rng = np.random.default_rng(seed)
    scale = np.linspace(0.95, 1.05, slices, dtype=np.float32)[:, None, None]
    volume = phantom.hu[None] * scale + rng.normal(0, 30, (slices, size, size))
    return volume.astype(np.float32), phantom.pixel_spacing_mm


def write_case(folder: Path, seed: int, slices: int, size: int) -> list[Path]:
    volume, spacing = noisy_volume(seed, slices, size)
    paths = write_series(
        volume, folder, pixel_spacing=spacing, slice_thickness=2.5, seed=f"load-{seed}"
    )
    return [Path(p) for p in paths]


def user(username: str, role: str, password_hash: str) -> User:
    found, _ = User.objects.get_or_create(username=username)
    found.password = password_hash
    found.save()
    assign_role(found, role)
    return found


def signed_in(user: User) -> str:
    """A session of `user`, as the login form leaves it: a reader who logged in earlier."""
    session = import_module(settings.SESSION_ENGINE).SessionStore()
    session[SESSION_KEY] = str(user.pk)
    session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
    session[HASH_SESSION_KEY] = user.get_session_auth_hash()
    session.create()
    return session.session_key


def seed(args) -> dict:
    started = time.monotonic()
    password_hash = make_password(PASSWORD)  # one PBKDF2 for every account
    owner = user(OWNER, RESEARCHER, password_hash)
    readers = [user(f"load-reader-{n:02d}", READER, password_hash) for n in range(args.readers)]
    uploaders = [
        user(f"load-uploader-{n}", RESEARCHER, password_hash) for n in range(args.uploaders)
    ]
    model = register_default_model()
    if model is None:
        raise SystemExit("no shipped denoiser weights: the study needs denoised series")
    var = Path(settings.VAR_DIR)
    cases = []
    for n in range(args.cases):
        paths = write_case(var / "seed-cases" / f"case-{n}", 1000 + n, args.slices, args.size)
        sources = [SourceFile(p.name, p, p.stat().st_size) for p in paths]
        ingest(owner=owner, label=f"load case {n}", sources=sources)
        case = Case.objects.get(owner=owner, label=f"load case {n}")
        job, _ = request_denoise(case, model, owner)
        if job.state != JobState.SUCCEEDED:
            job = run_here(job)
        if job.state != JobState.SUCCEEDED:
            raise SystemExit(f"denoising {case} failed: {job.message}")
        cases.append(case)
    study = setup.create_study(
        owner, {"title": STUDY_TITLE, "denoiser_model": model, "seed": 20260101}
    )
    setup.set_cases(owner, study, [c.pk for c in cases])
    for reader in readers:
        lifecycle.add_reader(study, reader)
    lifecycle.open_study(study)
    study.refresh_from_db()
    assert study.state == ReaderStudy.State.OPEN, study.state

    upload_root = var / "upload-sets"
    uploads = {}
    for u, uploader in enumerate(uploaders):
        sets = []
        for k in range(args.upload_sets):
            folder = upload_root / uploader.username / f"set-{k}"
            write_case(folder, 5000 + 100 * u + k, args.upload_slices, args.upload_size)
            sets.append(str(folder))
        uploads[uploader.username] = sets
    criteria = [
        {"key": c.key, "values": list(c.values), "required": c.required}
        for c in study.criteria.all()
    ]
    return {
        "password": PASSWORD,
        "owner": OWNER,
        "study": study.pk,
        "criteria": criteria,
        "ask_preference": study.ask_preference,
        "readers": [r.username for r in readers],
        "sessions": {r.username: signed_in(r) for r in readers},
        "uploaders": uploads,
        "cases": len(cases),
        "slices": args.slices,
        "size": args.size,
        "upload_slices": args.upload_slices,
        "upload_size": args.upload_size,
        "seed_seconds": round(time.monotonic() - started, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--plan", type=Path, required=True, help="where to write the plan JSON")
    parser.add_argument("--readers", type=int, default=50)
    parser.add_argument("--cases", type=int, default=8)
    parser.add_argument("--slices", type=int, default=24)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--uploaders", type=int, default=5)
    parser.add_argument("--upload-sets", type=int, default=8)
    parser.add_argument("--upload-slices", type=int, default=32)
    parser.add_argument("--upload-size", type=int, default=256)
    args = parser.parse_args()
    plan = seed(args)
    args.plan.write_text(json.dumps(plan, indent=1))
    print(
        f"seeded in {plan['seed_seconds']} s: study {plan['study']}, {plan['cases']} cases of "
        f"{args.slices}x{args.size}^2, {len(plan['readers'])} readers, "
        f"{len(plan['uploaders'])} uploaders",
        flush=True,
    )


if __name__ == "__main__":
    main()
