"""QIDO-RS answered from the database: study attributes are Case columns, every key is a SQL
condition, paging is SQL, and the number of queries does not grow with the archive."""

from __future__ import annotations

import importlib
import itertools
from datetime import timedelta

import pydicom
import pytest
from django.apps import apps
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from reader_study.dicomweb.qido import (
    STUDY_INCLUDABLE,
    STUDY_KEYS,
    _check_value,
    _keep,
    _where,
    like_pattern,
    study_dataset,
)
from reader_study.models import Case, DenoiserModel, Instance, Series
from tests.jobs.factories import ingest_case

pytestmark = pytest.mark.django_db

STUDIES = reverse("dicomweb:studies")
ALL_SERIES = reverse("dicomweb:all-series")
ALL_INSTANCES = reverse("dicomweb:all-instances")
CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"
# Every search here costs the same few queries (session, user, roles, rows, series).
MAX_QUERIES = 5
UIDS = itertools.count(1)


def make_studies(owner, labels, modalities=(("CT",),), **attributes) -> list[Case]:
    """Cases straight into the database, as ingest stores them: study attributes by keyword
    (a value, or a list cycled over the cases), series of the given modalities (cycled; ()
    for none), two instances a series whose files do not exist (nothing may read them)."""
    cases = []
    for i, label in enumerate(labels):
        case = Case(
            owner=owner,
            label=label,
            study_instance_uid=f"2.25.{next(UIDS)}",
            status=Case.Status.READY,
        )
        case.take_study_attributes(
            {k: v[i % len(v)] if isinstance(v, list) else v for k, v in attributes.items()}
        )
        cases.append(case)
    Case.objects.bulk_create(cases)
    series = []
    for i, case in enumerate(cases):
        for n, modality in enumerate(modalities[i % len(modalities)]):
            series.append(
                Series(
                    case=case,
                    kind=Series.Kind.DENOISED if n else Series.Kind.ORIGINAL,
                    denoiser_model=_model(n) if n else None,
                    series_instance_uid=f"{case.study_instance_uid}.{n}",
                    series_number=n + 1,
                    modality=modality,
                    rows=32,
                    columns=32,
                    num_instances=2,
                )
            )
    Series.objects.bulk_create(series)
    Instance.objects.bulk_create(
        Instance(
            series=s,
            sop_instance_uid=f"{s.series_instance_uid}.{k}",
            sop_class_uid=CT_IMAGE,
            transfer_syntax_uid="1.2.840.10008.1.2.1",
            instance_number=k + 1,
            slice_position=float(k),
            file=f"missing/{s.series_instance_uid}.{k}.dcm",
            size_bytes=1,
            sha256="0" * 64,
        )
        for s in series
        for k in range(2)
    )
    return cases


def _model(n: int) -> DenoiserModel:
    """A model for a case's n-th denoised series (one series per case and model)."""
    return DenoiserModel.objects.get_or_create(
        name=f"model-{n}", version="1", defaults={"checkpoint": "m.pt", "sha256": "0" * 64}
    )[0]


def search(client, url=STUDIES, params=None, status=200):
    response = client.get(url, params or {})
    assert response.status_code == status, response.content[:500]
    return response.json() if status == 200 else response


def labels(found) -> list[str]:
    return [s["00100010"]["Value"][0]["Alphabetic"] for s in found]


def counted(client, url, params) -> tuple[int, list]:
    with CaptureQueriesContext(connection) as queries:
        found = search(client, url, params)
    return len(queries), found


# --- Queries that do not grow with the archive ----------------------------------------------


def test_searches_take_the_same_queries_for_20_and_200_studies(
    researcher, client_for, django_assert_max_num_queries
):
    client = client_for(researcher)
    dates = ["20240105", "20231120"]
    make_studies(researcher, [f"LDCT-{i:03d}" for i in range(20)], StudyDate=dates)
    searches = [
        (STUDIES, {"PatientName": "*1*", "StudyDate": "20240101-", "limit": "50"}),
        (STUDIES, {"ModalitiesInStudy": "CT", "limit": "10", "offset": "3"}),
        (STUDIES, {}),  # no limit: every study
        (ALL_SERIES, {"PatientID": "LDCT-0*", "Modality": "CT", "limit": "50"}),
        (ALL_INSTANCES, {"StudyDate": "-20240131", "InstanceNumber": "2", "limit": "50"}),
    ]
    few = [counted(client, url, params) for url, params in searches]
    make_studies(researcher, [f"LDCT-{i:03d}" for i in range(20, 200)], StudyDate=dates)
    for (url, params), (queries, found_few) in zip(searches, few, strict=True):
        with django_assert_max_num_queries(MAX_QUERIES):
            queries_many, found_many = counted(client, url, params)
        assert queries_many == queries, (url, params)
        assert len(found_many) >= len(found_few)
    assert len(search(client, STUDIES)) == 200
    found = search(client, STUDIES, {"PatientName": "*1*", "StudyDate": "20240101-", "limit": 50})
    expected = [f"LDCT-{i:03d}" for i in range(0, 200, 2) if "1" in f"{i:03d}"]
    assert labels(found) == expected[:50]


def test_series_and_instances_across_studies_carry_study_attributes_from_the_rows(
    researcher, client_for
):
    # The instances' files do not exist: a header read would fail the search.
    make_studies(
        researcher,
        ["A-1", "B-2"],
        modalities=[("CT", "SR")],
        StudyDate=["20240131", "20230101"],
        StudyDescription="CT Abdomen",
    )
    client = client_for(researcher)
    series = search(client, ALL_SERIES, {"StudyDate": "20240101-", "Modality": "SR"})
    assert len(series) == 1 and series[0]["00080060"]["Value"] == ["SR"]
    assert series[0]["00100020"]["Value"] == ["A-1"]  # PatientID, a study attribute
    assert series[0]["00080061"]["Value"] == ["CT", "SR"]  # ModalitiesInStudy
    assert series[0]["00201208"]["Value"] == [4]  # NumberOfStudyRelatedInstances
    assert series[0]["00081030"]["Value"] == ["CT Abdomen"]  # StudyDescription, returned always
    asked = search(client, ALL_SERIES, {"PatientID": "B-2", "includefield": "StudyDescription"})
    assert [s["00081030"]["Value"] for s in asked] == [["CT Abdomen"]] * 2
    instances = search(client, ALL_INSTANCES, {"PatientName": "b-2", "SeriesNumber": "2"})
    assert [i["00200013"]["Value"] for i in instances] == [[1], [2]]  # InstanceNumber
    assert {i["00080020"]["Value"][0] for i in instances} == {"20230101"}  # StudyDate
    page = search(client, ALL_INSTANCES, {"limit": "3", "offset": "2"})
    assert [i["00100020"]["Value"][0] for i in page] == ["A-1", "A-1", "B-2"]


# --- Matching ------------------------------------------------------------------------------


def test_wildcards_match_literal_percent_underscore_and_backslash(researcher, client_for):
    names = ["50%_dose", "50%Xdose", "50a_dose", "50ab_dose", "50%_DOSE-2", "a\\b"]
    make_studies(researcher, names, StudyDescription=["100% dose", "100 dose", "1000 dose"])
    client = client_for(researcher)

    def found(**params) -> list[str]:
        return labels(search(client, STUDIES, params))

    assert found(PatientName="50%_*") == ["50%_dose", "50%_DOSE-2"]  # % and _ are themselves
    assert found(PatientName="50?_dose") == ["50%_dose", "50a_dose"]
    assert found(PatientName="*_dose") == ["50%_dose", "50a_dose", "50ab_dose"]
    assert found(PatientName="5*%*") == ["50%_dose", "50%Xdose", "50%_DOSE-2"]
    assert found(PatientID="50__dose") == []  # exact: no wildcard at all
    assert found(StudyDescription="*0%*") == ["50%_dose", "50ab_dose"]
    assert like_pattern("a\\b%_c*?**") == "a\\\\b\\%\\_c%_%"
    # A backslash in a query value separates values (PS3.18), so the escape of a literal
    # backslash shows through the lookup itself.
    escaped = Case.objects.filter(label__ilike=like_pattern("A\\*"))
    assert list(escaped.values_list("label", flat=True)) == ["a\\b"]
    assert Case.objects.filter(label__ilike=like_pattern("a?b")).exists()  # ? takes any one


def test_person_names_match_ignoring_case_other_exact_values_do_not(researcher, client_for):
    make_studies(
        researcher,
        ["LDCT-007", "ldct-008"],
        ReferringPhysicianName=["Who^Doctor", "Other^Doctor"],
        AccessionNumber=["ACC-17", "acc-18"],
    )
    client = client_for(researcher)

    def found(**params) -> list[str]:
        return labels(search(client, STUDIES, params))

    assert found(PatientName="ldct-007") == ["LDCT-007"]
    assert found(PatientName="LDCT-008") == ["ldct-008"]
    assert found(ReferringPhysicianName="who^doctor") == ["LDCT-007"]
    assert found(ReferringPhysicianName="OTHER^*") == ["ldct-008"]
    assert found(AccessionNumber="acc-17") == []  # SH: case matters in exact matching
    assert found(AccessionNumber="ACC-17") == ["LDCT-007"]
    assert found(AccessionNumber="acc-*") == ["LDCT-007", "ldct-008"]  # wildcards ignore case
    # A key given twice matches either value.
    either = client.get(f"{STUDIES}?PatientName=nobody&PatientName=LDCT-008")
    assert labels(either.json()) == ["ldct-008"]


def test_dates_and_times_match_as_ranges(researcher, client_for):
    make_studies(
        researcher,
        ["dec", "jan", "feb", "none"],
        StudyDate=["20231231", "20240131", "20240201", ""],
        StudyTime=["235959", "0815", "081500.5", ""],
    )
    client = client_for(researcher)

    def found(**params) -> list[str]:
        return labels(search(client, STUDIES, params))

    assert found(StudyDate="20240101-20240131") == ["jan"]
    assert found(StudyDate="20240131") == ["jan"]
    assert found(StudyDate="-20231231") == ["dec"]  # a blank date is in no range
    assert found(StudyDate="20240101-") == ["jan", "feb"]
    assert found(StudyDate="20250101-") == []
    assert found(StudyTime="0815-0815") == ["jan", "feb"]  # the whole minute
    assert found(StudyTime="08:15:00.6-") == ["dec"]
    assert found(StudyTime="-081500") == ["jan", "feb"]  # to the end of that second
    assert found(StudyTime="0815") == ["jan"]  # exact: the value as stored
    assert found(StudyDate="20231231", StudyTime="23-") == ["dec"]
    for bad in ("2024-01-01", "2-", "20240101-2024"):
        response = search(client, STUDIES, {"StudyDate": bad}, status=400)
        assert "StudyDate" in response.json()["detail"]


def test_modalities_in_study_match_any_series_and_a_case_without_series_is_ct(
    researcher, client_for
):
    make_studies(researcher, ["ct", "ct+sr", "mr"], modalities=[("CT",), ("CT", "SR"), ("MR",)])
    make_studies(researcher, ["ingesting"], modalities=[()])
    client = client_for(researcher)

    def found(value) -> list[str]:
        return labels(search(client, STUDIES, {"ModalitiesInStudy": value}))

    assert found("CT") == ["ct", "ct+sr", "ingesting"]
    assert found("SR") == ["ct+sr"]
    assert found("MR,SR") == ["ct+sr", "mr"]
    assert found("?R") == ["ct+sr", "mr"]
    assert found("XA") == []
    study = search(client, STUDIES, {"PatientName": "ct+sr"})[0]
    assert study["00080061"]["Value"] == ["CT", "SR"] and study["00201206"]["Value"] == [2]


# The SQL conditions against the Python rules they replace, over studies of odd values.
LABELS = ["LDCT-007", "ldct-17", "50%_dose", "50a_dose", "Ünï-7", "L"]
ROW_VALUES = {
    "StudyDescription": ["CT Abdomen", "ct abdomen 100%", "", "CT_Chest", "CT?Chest"],
    "StudyDate": ["20240131", "20231231", "", "20240201", "2024.01.31"],
    "StudyTime": ["081500", "0815", "081500.5", "", "2359", "bad", "08:15:01"],
    "AccessionNumber": ["ACC-17", "acc-17", "", "ACC%17"],
    "ReferringPhysicianName": ["Who^Doctor", "WHO^DOCTOR", "Other^Doc", ""],
    "StudyID": ["S9", "S10", "", "s9"],
}
PATTERNS = {
    "PatientName": ["ldct-007", "LDCT-0?7", "*7", "50%_*", "50?_dose", "*%*", "l*", "?", "**"],
    "PatientID": ["LDCT-007\\50a_dose", "*-*", "ünï-7", "LDCT-007,ldct-17", "L"],
    "StudyDescription": ["ct abd*", "CT Abdomen", "ct abdomen", "*100%", "CT_*", "CT?Chest"],
    "StudyDate": ["20240131", "20240101-20240131", "-20231231", "20240201-", "20240101-"],
    "StudyTime": ["0815", "081500", "08:15-0816", "0816-", "-0815", "081500.5-081500.6", "23-"],
    "AccessionNumber": ["ACC-17", "acc-17", "ACC*", "acc?17", "ACC%17", "*%*", "ACC-17,acc-17"],
    "ReferringPhysicianName": ["who^doctor", "WHO^*", "Other^*", "Who^Doctor\\x", "*^D*"],
    "StudyID": ["S9", "S?", "S", "S*0", "s*"],
    "ModalitiesInStudy": ["CT", "MR,CT", "SR", "C?", "*R", "XA", "MR\\SR", "ct"],
}


@pytest.mark.filterwarnings("ignore:Invalid value for VR DA")  # '2024.01.31', on purpose
def test_sql_matching_agrees_with_the_python_rules(researcher):
    count = 30  # each column cycles at its own pace, so the rows mix values
    cases = make_studies(
        researcher,
        [LABELS[i % len(LABELS)] for i in range(count)],
        modalities=[("CT",), ("CT", "SR"), ("MR",), (), ("SR", "CT")],
        **{
            key: [v[(i * 7 + k) % len(v)] for i in range(count)]
            for k, (key, v) in enumerate(ROW_VALUES.items())
        },  # fmt: skip
    )
    uids = [c.study_instance_uid for c in cases]
    patterns = {**PATTERNS, "StudyInstanceUID": [f"{uids[1]},{uids[3]}", f"{uids[2]}\\1.2"]}
    assert set(patterns) == STUDY_KEYS
    rows = Case.objects.filter(owner=researcher)
    included = STUDY_INCLUDABLE - {"RetrieveURL"}
    datasets = {
        c.study_instance_uid: study_dataset(None, c, included)
        for c in rows.prefetch_related("series")
    }

    def agree(filters) -> set[str]:
        in_sql = set(rows.filter(_where(filters)).values_list("study_instance_uid", flat=True))
        assert in_sql == {uid for uid, ds in datasets.items() if _keep(ds, filters)}, filters
        return in_sql

    both = 0
    for keyword, values in patterns.items():
        for pattern in values:
            _check_value(keyword, pattern)  # one a query would accept
            found = agree({keyword: [pattern]})
            both += 0 < len(found) < count
    assert both > 40  # most patterns both hit and miss
    # Two values of a key: either; two keys: both.
    for first, second in itertools.combinations(["StudyDate", "StudyTime", "PatientName"], 2):
        agree({first: PATTERNS[first][:2], second: PATTERNS[second][2:4]})
        agree({first: PATTERNS[first][1:3] + [""]})  # an empty value: any


def test_values_it_cannot_match_are_still_refused(researcher, client_for):
    make_studies(researcher, ["one"])
    client = client_for(researcher)
    for params, words in [
        ({"PatientName": "a" * 401}, ["PatientName", "at most 400"]),
        ({"StudyInstanceUID": "1.2.*"}, ["StudyInstanceUID", "wildcards"]),
        ({"StudyTime": "8am"}, ["StudyTime", "HHMMSS"]),
        ({"limit": "-1"}, ["limit"]),
        ({"offset": "x"}, ["offset"]),
    ]:
        detail = search(client, STUDIES, params, status=400).json()["detail"]
        assert all(word in detail for word in words), (params, detail)
    assert search(client, STUDIES, {"offset": "9" * 40, "limit": "9" * 40}) == []
    assert labels(search(client, STUDIES, {"offset": "0", "limit": "9" * 40})) == ["one"]


# --- What is returned: includefield ---------------------------------------------------------


def test_includefield_and_all_return_the_attributes(researcher, client_for):
    make_studies(
        researcher,
        ["LDCT-001"],
        StudyDescription="CT Abdomen",
        StudyDate="20240131",
        PatientSex="O",
    )
    client = client_for(researcher)
    default = search(client, STUDIES)[0]
    # PS3.18's default set, plus StudyDescription (viewers list studies by it).
    for tag in ("00081030","00080020", "00080030", "00080050", "00080056", "00080061", "00080090",
                "00081190", "00100010", "00100020", "00100030", "00100040", "0020000D",
                "00200010", "00201206", "00201208"):  # fmt: skip
        assert tag in default, tag
    assert default["00100040"]["Value"] == ["O"] and default["00080020"]["Value"] == ["20240131"]
    by_tag = search(client, STUDIES, {"includefield": "00081030"})[0]
    assert by_tag["00081030"]["Value"] == ["CT Abdomen"]
    assert set(by_tag) == set(default)
    everything = search(client, STUDIES, {"includefield": "all"})[0]
    assert set(everything) == set(by_tag)
    for params in (
        {"includefield": "StudyDescription"},
        {"includefield": "NoSuchAttribute,00081030"},
        {"includefield": ["00100010", "studydescription", "0008103e", "StudyDescription"]},
        {"StudyDescription": "ct*"},  # a matching key is returned too
    ):
        response = client.get(STUDIES, params)
        assert "Warning" not in response, params  # unknown names are ignored quietly
        assert response.json()[0]["00081030"]["Value"] == ["CT Abdomen"], params
    response = client.get(STUDIES, {"includefield": "NoSuchAttribute,PatientSex"})
    assert "Warning" not in response and set(response.json()[0]) == set(default)


# --- Paging ----------------------------------------------------------------------------------


def test_offset_and_limit_page_in_a_stable_order(researcher, client_for):
    cases = make_studies(researcher, [f"S-{i:02d}" for i in range(25)])
    # The same created_at for all: the id breaks the tie.
    Case.objects.filter(pk__in=[c.pk for c in cases]).update(created_at=timezone.now())
    client = client_for(researcher)
    everything = labels(search(client, STUDIES))
    assert everything == [f"S-{i:02d}" for i in range(25)]
    pages = [labels(search(client, STUDIES, {"offset": o, "limit": 10})) for o in (0, 10, 20)]
    assert [len(p) for p in pages] == [10, 10, 5] and sum(pages, []) == everything
    assert labels(search(client, STUDIES, {"offset": 10, "limit": 10})) == pages[1]
    assert labels(search(client, STUDIES, {"offset": 24})) == ["S-24"]
    assert search(client, STUDIES, {"offset": 25}) == []
    # Oldest first: an older study comes first whatever its id, a new one last.
    Case.objects.filter(label="S-20").update(created_at=timezone.now() - timedelta(days=1))
    make_studies(researcher, ["S-new"])
    order = labels(search(client, STUDIES))
    assert order[0] == "S-20" and order[-1] == "S-new"
    assert labels(search(client, STUDIES, {"limit": 3, "PatientName": "S-2*"})) == [
        "S-20",
        "S-21",
        "S-22",
    ]


# --- Where the columns come from -------------------------------------------------------------


def test_ingest_stores_the_study_attributes_and_the_migration_fills_old_cases(
    researcher, client_for
):
    case = ingest_case(researcher, "ingested", seed=3)
    first = case.original_series.instances.order_by("slice_position", "instance_number").first()
    with first.file.open("rb") as fh:
        header = pydicom.dcmread(fh, stop_before_pixels=True)
    assert case.study_date == str(header.StudyDate) and len(case.study_date) == 8
    assert case.study_time == str(header.get("StudyTime", ""))
    assert case.study_description == str(header.get("StudyDescription", ""))
    found = search(client_for(researcher), STUDIES, {"StudyDate": f"{case.study_date}-"})
    assert labels(found) == ["ingested"]

    # Cases from before the columns: the data migration reads one header per case.
    gone = ingest_case(researcher, "file gone", seed=4)
    gone.original_series.instances.order_by("slice_position").first().file.delete(save=False)
    bare = make_studies(researcher, ["no series"], modalities=[()])[0]
    filled = Case.objects.values(*_columns()).get(pk=case.pk)
    Case.objects.update(**{f: "" for f in _columns()}, study_time_seconds=None)
    migration = importlib.import_module("reader_study.migrations.0006_qido_attributes")
    migration.fill_study_attributes(apps, None)
    assert Case.objects.values(*_columns()).get(pk=case.pk) == filled
    assert Case.objects.get(pk=case.pk).study_time_seconds == pytest.approx(case.study_time_seconds)
    for blank in (gone, bare):
        assert set(Case.objects.values(*_columns()).get(pk=blank.pk).values()) == {""}


def _columns() -> list[str]:
    return [
        "study_date",
        "study_time",
        "accession_number",
        "study_id",
        "study_description",
        "referring_physician_name",
        "patient_birth_date",
        "patient_sex",
    ]
