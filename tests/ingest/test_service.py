"""The ingest entry point with real files: what becomes a case, and what is refused."""

from __future__ import annotations

import pydicom
import pytest

from reader_study.ingest.report import IngestError
from reader_study.ingest.service import ingest
from reader_study.models import Case, Instance
from reader_study.signals import case_ready
from tests.ingest.conftest import sources, stored_files
from tests.ingest.dicom_files import edit, shipped, write_ct_series

pytestmark = pytest.mark.django_db


def test_synthetic_series_becomes_one_deidentified_case(researcher, tmp_path, media_root):
    paths = write_ct_series(tmp_path / "in", slices=6, size=32)
    heard = []
    case_ready.connect(
        lambda sender, case, **kw: heard.append(case.pk), weak=False, dispatch_uid="t1"
    )
    try:
        report = ingest(owner=researcher, label="LDCT-001", sources=sources(paths[::-1]))
    finally:
        case_ready.disconnect(dispatch_uid="t1")
    assert report.ok and report.case["created"]
    case = Case.objects.get()
    assert heard == [case.pk]
    assert case.status == Case.Status.READY and case.owner == researcher
    series = case.original_series
    assert series.num_instances == 6 and (series.rows, series.columns) == (32, 32)
    assert series.facts["slices"] == 6 and series.facts["ctdivol_mgy"] == 2.1
    positions = list(series.instances.values_list("slice_position", flat=True))
    assert positions == sorted(positions)
    assert {r.status for r in report.files} == {"accepted"}
    ds = pydicom.dcmread(Instance.objects.first().file.path)
    assert str(ds.PatientName) == "LDCT-001" and ds.PatientID == "LDCT-001"
    assert ds.PatientIdentityRemoved == "YES" and ds.DeidentificationMethod
    assert ds.StudyInstanceUID == case.study_instance_uid
    original = pydicom.dcmread(paths[0])
    assert ds.StudyInstanceUID != original.StudyInstanceUID
    assert len(stored_files(media_root / "cases")) == 6


def test_reupload_changes_nothing(researcher, tmp_path):
    paths = write_ct_series(tmp_path / "in", slices=4, size=32)
    ingest(owner=researcher, label="A", sources=sources(paths))
    again = ingest(owner=researcher, label="A", sources=sources(paths))
    assert not again.case["created"]
    assert {r.status for r in again.files} == {"duplicate"}
    assert Case.objects.count() == 1 and Instance.objects.count() == 4


def test_mr_file_is_refused_with_its_name(researcher, media_root):
    with pytest.raises(IngestError) as caught:
        ingest(owner=researcher, label="A", sources=sources([shipped("MR_small.dcm")]))
    assert caught.value.status == 422
    assert "MR_small.dcm: modality MR, only CT is accepted" in caught.value.report.message
    assert Case.objects.count() == 0 and stored_files(media_root) == []


@pytest.mark.parametrize(
    "name",
    ["CT_small.dcm", "693_J2KR.dcm", "693_J2KI.dcm", "bad_sequence.dcm", "eCT_Supplemental.dcm"],
)
def test_shipped_ct_files_are_accepted(researcher, name):
    report = ingest(owner=researcher, label=name[:20], sources=sources([shipped(name)]))
    assert report.ok, report.message
    case = Case.objects.get()
    assert case.original_series.instances.count() == 1


def test_two_series_need_a_choice(researcher, tmp_path):
    a = write_ct_series(tmp_path / "a", slices=3, size=32, seed=1)
    b = write_ct_series(tmp_path / "b", slices=2, size=32, seed=2)
    with pytest.raises(IngestError) as caught:
        ingest(
            owner=researcher,
            label="mixed",
            sources=sources(a + b, [f"a{i}" for i in range(3)] + ["b0", "b1"]),
        )
    assert caught.value.status == 422 and "2 series in one upload" in caught.value.report.message
    choices = caught.value.report.series_choices
    assert [c["files"] for c in choices] == [3, 2]
    report = ingest(
        owner=researcher,
        label="mixed",
        sources=sources(a + b, [f"a{i}" for i in range(3)] + ["b0", "b1"]),
        series_uid=choices[1]["series_instance_uid"],
    )
    assert report.counts() == {"accepted": 2, "duplicate": 0, "skipped": 3, "rejected": 0}


def test_missing_slice_is_reported(researcher, tmp_path):
    paths = write_ct_series(tmp_path / "in", slices=6, size=32)
    report = ingest(owner=researcher, label="gap", sources=sources(paths[:2] + paths[3:]))
    assert any("1 slice(s) missing" in w for w in report.warnings)


def test_odd_size_slice_is_refused_rest_kept(researcher, tmp_path):
    paths = write_ct_series(tmp_path / "in", slices=4, size=32)
    odd = write_ct_series(
        tmp_path / "odd", slices=1, size=16, series_uid=pydicom.dcmread(paths[0]).SeriesInstanceUID
    )
    report = ingest(
        owner=researcher, label="odd", sources=sources(paths + odd, ["1", "2", "3", "4", "odd.dcm"])
    )
    odd_result = [r for r in report.files if r.name == "odd.dcm"][0]
    assert odd_result.status == "rejected" and "16x16 differs" in odd_result.reason
    assert Instance.objects.count() == 4


def test_strict_refuses_everything(researcher, tmp_path, media_root):
    paths = write_ct_series(tmp_path / "in", slices=3, size=32)
    bad = edit(paths[0], tmp_path / "mr.dcm", Modality="MR", SOPInstanceUID="1.2.3.4")
    with pytest.raises(IngestError) as caught:
        ingest(owner=researcher, label="s", sources=sources(paths + [bad]), strict=True)
    assert "mr.dcm" in caught.value.report.message
    assert Case.objects.count() == 0 and stored_files(media_root) == []


def test_bad_transfer_syntax_setting_stops_startup(tmp_path):
    import os
    import subprocess
    import sys

    env = dict(os.environ, LDCT_ACCEPTED_TRANSFER_SYNTAXES="jpeg", LDCT_VAR_DIR=str(tmp_path))
    result = subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"],
        env=env | {"DJANGO_SETTINGS_MODULE": "ldct_web.settings"},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0 and "LDCT_ACCEPTED_TRANSFER_SYNTAXES" in result.stderr


def test_a_failing_case_ready_receiver_does_not_lose_the_upload(researcher, tmp_path):
    def broken(sender, case, **kwargs):
        Case.objects.create(owner=case.owner, label="x", study_instance_uid=case.study_instance_uid)

    case_ready.connect(broken, weak=False, dispatch_uid="broken")
    try:
        report = ingest(owner=researcher, label="kept", sources=sources([shipped("CT_small.dcm")]))
    finally:
        case_ready.disconnect(dispatch_uid="broken")
    assert report.ok
    case = Case.objects.get()
    assert case.label == "kept" and "could not be queued" in case.status_message


@pytest.mark.parametrize(
    ("attributes", "reason"),
    [
        ({"PhotometricInterpretation": "MONOCHROME1"}, "PhotometricInterpretation MONOCHROME1"),
        ({"RescaleType": "MGML"}, "RescaleType MGML: a map in units other than Hounsfield"),
    ],
)
def test_what_the_denoiser_cannot_read_is_refused_at_upload(
    researcher, tmp_path, attributes, reason
):
    paths = write_ct_series(tmp_path / "in", slices=3, size=32)
    edit(paths[1], paths[1], **attributes)
    report = ingest(owner=researcher, label="units", sources=sources(paths, ["1", "2", "3"]))
    refused = [r for r in report.files if r.name == "2"][0]
    assert refused.status == "rejected" and reason in refused.reason
    assert Instance.objects.count() == 2
