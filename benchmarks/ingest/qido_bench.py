"""QIDO-RS study search over an archive of 1,000 studies: the time one search takes.

    .venv/bin/python benchmarks/ingest/qido_bench.py [--studies 1000] [--repeat 30]
        [--database-url postgres://postgres@127.0.0.1:5432/ldct]

Builds a throwaway archive: SQLite in a temporary folder, or with --database-url a database
test_<name>_qido_bench on that server (created and dropped as Django's test runner does). One
researcher owns --studies studies written as rows the way ingest leaves them (Case with its
study attributes, one original Series of 300 instances, the first Instance with a small
de-identified header file in storage; the other instances' rows are left out, no search
reads them). Then, in process through Django's test client (session login, no network),
each search runs once to warm up and --repeat times timed; prints the median and quartiles
in milliseconds and the SQL queries of one request, as JSON lines.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
ARGS = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
ARGS.add_argument("--studies", type=int, default=1000)
ARGS.add_argument("--repeat", type=int, default=30)
ARGS.add_argument("--database-url", help="Postgres to create the throwaway test database in")
OPTIONS = ARGS.parse_args()

VAR = Path(tempfile.mkdtemp(prefix="ldct-bench-qido-"))
(VAR / "staticfiles").mkdir()  # nothing static is served; an empty folder keeps WhiteNoise quiet
os.environ.update(LDCT_VAR_DIR=str(VAR), LDCT_INSECURE_HTTP="1")
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "ldct_web.settings")
for name in ("DATABASE_URL", "CELERY_BROKER_URL", "CELERY_RESULT_BACKEND", "MEDIA_ROOT"):
    os.environ.pop(name, None)
if OPTIONS.database_url:
    os.environ["DATABASE_URL"] = OPTIONS.database_url

import django  # noqa: E402

django.setup()

import pydicom  # noqa: E402
from django.contrib.auth.models import User  # noqa: E402
from django.core.files.base import ContentFile  # noqa: E402
from django.core.files.storage import default_storage  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.test.utils import CaptureQueriesContext, setup_test_environment  # noqa: E402
from pydicom.dataset import FileMetaDataset  # noqa: E402
from pydicom.uid import ExplicitVRLittleEndian  # noqa: E402

from reader_study.access import RESEARCHER, assign_role  # noqa: E402
from reader_study.models import Case, Instance, Series  # noqa: E402

CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
SEARCHES = [
    "/dicomweb/studies?PatientName=*7*&limit=50",
    "/dicomweb/studies?StudyDate=20240101-20240630&offset=200&limit=50",
    "/dicomweb/studies",  # every study, no limit
]


def header(i: int, study_uid: str, series_uid: str, sop_uid: str) -> pydicom.Dataset:
    """A de-identified first slice's header, as ingest stores it (no pixels: none are read)."""
    ds = pydicom.Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = CT_IMAGE
    ds.file_meta.MediaStorageSOPInstanceUID = sop_uid
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID, ds.SOPInstanceUID = CT_IMAGE, sop_uid
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.PatientName = ds.PatientID = f"LDCT-{i:04d}"
    ds.PatientIdentityRemoved = "YES"
    ds.StudyDate = f"2024{1 + i % 12:02d}{1 + i % 28:02d}"
    ds.StudyTime = f"{8 + i % 10:02d}{i % 60:02d}00"
    ds.StudyDescription = ("CT Abdomen", "CT Chest", "CT Abdomen Pelvis")[i % 3]
    ds.AccessionNumber, ds.StudyID = "", ""
    ds.ReferringPhysicianName, ds.PatientBirthDate, ds.PatientSex = "", "", "O"
    ds.Modality = "CT"
    return ds


def build(studies: int) -> User:
    owner = User.objects.create_user("bench-qido", password="bench-qido-password-1")
    assign_role(owner, RESEARCHER)
    for start in range(0, studies, 500):
        numbers = range(start, min(start + 500, studies))
        headers = [header(i, f"2.25.1{i}", f"2.25.2{i}", f"2.25.3{i}") for i in numbers]
        cases = []
        for ds in headers:
            case = Case(
                owner=owner,
                label=str(ds.PatientName),
                study_instance_uid=ds.StudyInstanceUID,
                status=Case.Status.READY,
            )
            if hasattr(case, "take_study_attributes"):  # not before the study columns
                case.take_study_attributes(ds)
            cases.append(case)
        Case.objects.bulk_create(cases)
        series = Series.objects.bulk_create(
            Series(
                case=case,
                kind=Series.Kind.ORIGINAL,
                series_instance_uid=ds.SeriesInstanceUID,
                series_number=1,
                rows=512,
                columns=512,
                num_instances=300,
            )
            for case, ds in zip(cases, headers, strict=True)
        )
        instances = []
        for s, ds in zip(series, headers, strict=True):
            buffer = io.BytesIO()
            ds.save_as(buffer, enforce_file_format=True)
            data = buffer.getvalue()
            name = default_storage.save(
                f"cases/{s.case_id}/series/{s.pk}/{ds.SOPInstanceUID}.dcm", ContentFile(data)
            )
            instances.append(
                Instance(
                    series=s,
                    sop_instance_uid=ds.SOPInstanceUID,
                    sop_class_uid=CT_IMAGE,
                    transfer_syntax_uid=ExplicitVRLittleEndian,
                    instance_number=1,
                    slice_position=0.0,
                    file=name,
                    size_bytes=len(data),
                    sha256="0" * 64,
                )
            )
        Instance.objects.bulk_create(instances)
    return owner


def measure(client: Client, url: str, repeat: int) -> dict:
    response = client.get(url)  # warm-up
    assert response.status_code == 200, response.content[:300]
    found = len(response.json())
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    queries = len(captured.captured_queries)  # now: the next request clears the log
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        client.get(url)
        times.append((time.perf_counter() - started) * 1000)
    quartiles = statistics.quantiles(times, n=4)
    return {
        "search": url,
        "studies": Case.objects.count(),
        "found": found,
        "queries": queries,
        "median_ms": round(statistics.median(times), 2),
        "q1_ms": round(quartiles[0], 2),
        "q3_ms": round(quartiles[2], 2),
        "repeat": repeat,
        "database": connection.vendor,
    }


def main() -> None:
    setup_test_environment()  # the test client's host is allowed
    test_db = None
    if OPTIONS.database_url:
        test_db = connection.settings_dict["NAME"]
        # A name of its own: a test run on the same server keeps its test_<name> database.
        connection.settings_dict["TEST"]["NAME"] = f"test_{test_db}_qido_bench"
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
    else:
        call_command("migrate", verbosity=0)
    try:
        started = time.perf_counter()
        owner = build(OPTIONS.studies)
        print(json.dumps({"built_studies": OPTIONS.studies, "s": time.perf_counter() - started}))
        client = Client()
        client.force_login(owner)
        for url in SEARCHES:
            print(json.dumps(measure(client, url, OPTIONS.repeat)), flush=True)
    finally:
        if test_db is not None:
            connection.creation.destroy_test_db(test_db, verbosity=0)


if __name__ == "__main__":
    main()
