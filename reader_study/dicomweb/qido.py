"""QIDO-RS: search studies, series and instances (application/dicom+json).

Matching supports the keys a viewer or script uses: UIDs (lists allowed), PatientID
and PatientName (with * and ? wildcards), Modality/ModalitiesInStudy, SeriesNumber,
InstanceNumber, plus limit and offset; keys by keyword or by tag (either case of hex).
Series and instance searches across all studies also carry and match the study-level
attributes. Other keys are ignored with a Warning header, as PS3.18 allows.
"""

from __future__ import annotations

import fnmatch
import json

from django.http import HttpResponse
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from rest_framework.exceptions import NotAcceptable, ParseError

from reader_study.case_access import visible_cases
from reader_study.dicomweb import lookup
from reader_study.dicomweb.base import DicomWebView
from reader_study.dicomweb.negotiation import accepts
from reader_study.models import Case, Instance, Series

DICOM_JSON = "application/dicom+json"
CONTROL = {"limit", "offset", "includefield", "fuzzymatching"}
STUDY_KEYS = {
    "StudyInstanceUID",
    "PatientID",
    "PatientName",
    "ModalitiesInStudy",
    "00100020",
    "0020000D",
    "00100010",
    "00080061",
}
SERIES_KEYS = {"SeriesInstanceUID", "Modality", "SeriesNumber", "0020000E", "00080060", "00200011"}
INSTANCE_KEYS = {
    "SOPInstanceUID",
    "SOPClassUID",
    "InstanceNumber",
    "00080018",
    "00080016",
    "00200013",
}
TAG_KEYWORD = {
    "00100020": "PatientID",
    "0020000D": "StudyInstanceUID",
    "00100010": "PatientName",
    "00080061": "ModalitiesInStudy",
    "0020000E": "SeriesInstanceUID",
    "00080060": "Modality",
    "00200011": "SeriesNumber",
    "00080018": "SOPInstanceUID",
    "00080016": "SOPClassUID",
    "00200013": "InstanceNumber",
}


def dicom_json_response(datasets: list[Dataset], ignored: list[str]) -> HttpResponse:
    body = json.dumps([ds.to_json_dict() for ds in datasets])
    response = HttpResponse(body, content_type=DICOM_JSON)
    if ignored:
        response["Warning"] = f'299 ldct "Ignored unsupported query keys: {", ".join(ignored)}"'
    return response


def _filters(request, supported: set[str]) -> tuple[dict[str, str], list[str]]:
    filters, ignored = {}, []
    for key, value in request.query_params.items():
        if key.lower() in CONTROL:
            continue
        # A tag may be written in either case of hex digits (PS3.18 attributeID).
        name = key.upper() if len(key) == 8 and key.upper() in TAG_KEYWORD else key
        if name in supported:
            filters[TAG_KEYWORD.get(name, name)] = value
        else:
            ignored.append(key)
    return filters, ignored


def _matches(value: str, pattern: str) -> bool:
    if "\\" in pattern or "," in pattern and "*" not in pattern:
        return value in {p.strip() for p in pattern.replace("\\", ",").split(",")}
    if "*" in pattern or "?" in pattern:
        return fnmatch.fnmatchcase(value.upper(), pattern.upper())
    return value == pattern


class BadQuery(ParseError):
    """400 with the reason, through DRF's exception handling."""


def _paging(request) -> tuple[int, int]:
    """(offset, limit) from the query; BadQuery (400) for anything but non-negative integers."""
    values = []
    for name in ("offset", "limit"):
        raw = request.query_params.get(name) or "0"  # empty: as if absent
        if not (raw.isascii() and raw.isdigit()):
            raise BadQuery(f"{name} must be a non-negative integer, not {raw!r}")
        values.append(int(raw))
    return values[0], values[1]


def _page(request, items: list) -> list:
    offset, limit = _paging(request)
    items = items[offset:]
    return items[:limit] if limit > 0 else items


def study_dataset(request, case: Case) -> Dataset:
    series = list(case.series.all())
    ds = Dataset()
    original = case.original_series if series else None  # None: a case being ingested
    first = original.instances.order_by(*lookup.ORDER).first() if original else None
    header = lookup.read(first, pixels=False) if first else Dataset()
    for keyword in (
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "StudyID",
        "StudyDescription",
        "ReferringPhysicianName",
        "PatientBirthDate",
        "PatientSex",
    ):
        setattr(ds, keyword, header.get(keyword, ""))
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyInstanceUID = case.study_instance_uid
    ds.PatientName = case.label[:64]
    ds.PatientID = case.label[:64]
    ds.ModalitiesInStudy = sorted({s.modality for s in series}) or ["CT"]
    ds.NumberOfStudyRelatedSeries = len(series)
    ds.NumberOfStudyRelatedInstances = sum(s.num_instances for s in series)
    ds.InstanceAvailability = "ONLINE"
    ds.RetrieveURL = request.build_absolute_uri(f"/dicomweb/studies/{case.study_instance_uid}")
    return ds


def series_dataset(request, series: Series) -> Dataset:
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.StudyInstanceUID = series.case.study_instance_uid
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.Modality = series.modality
    ds.SeriesNumber = series.series_number if series.series_number is not None else ""
    ds.SeriesDescription = series.description
    ds.NumberOfSeriesRelatedInstances = series.num_instances
    ds.RetrieveURL = request.build_absolute_uri(
        f"/dicomweb/studies/{ds.StudyInstanceUID}/series/{series.series_instance_uid}"
    )
    return ds


def instance_dataset(request, instance: Instance) -> Dataset:
    series = instance.series
    ds = Dataset()
    ds.StudyInstanceUID = series.case.study_instance_uid
    ds.SeriesInstanceUID = series.series_instance_uid
    ds.SOPClassUID = instance.sop_class_uid
    ds.SOPInstanceUID = instance.sop_instance_uid
    ds.InstanceNumber = instance.instance_number if instance.instance_number is not None else ""
    ds.Rows = series.rows
    ds.Columns = series.columns
    ds.NumberOfFrames = instance.number_of_frames
    ds.AvailableTransferSyntaxUID = instance.transfer_syntax_uid
    ds.InstanceAvailability = "ONLINE"
    ds.RetrieveURL = request.build_absolute_uri(lookup.instance_path(instance))
    return ds


def _keep(ds: Dataset, filters: dict[str, str]) -> bool:
    for keyword, pattern in filters.items():
        value = ds.get(keyword, "")
        values = [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]
        if not any(_matches(v, pattern) for v in values):
            return False
    return True


class SearchView(DicomWebView):
    """A search: answered in DICOM JSON, or 406 to a client that accepts none of it."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # who is asking comes first (401/403)
        if not accepts(request.headers.get("Accept"), DICOM_JSON, "application/json"):
            raise NotAcceptable("search results are sent as application/dicom+json")


class SearchStudies(SearchView):
    def get(self, request):
        filters, ignored = _filters(request, STUDY_KEYS)
        _paging(request)
        cases = visible_cases(request.user).prefetch_related("series")
        uid = filters.get("StudyInstanceUID")
        if uid and "*" not in uid:
            cases = cases.filter(study_instance_uid__in=uid.replace("\\", ",").split(","))
        found = [ds for ds in (study_dataset(request, c) for c in cases) if _keep(ds, filters)]
        return dicom_json_response(_page(request, found), ignored)


class StudyAttributes:
    """Each case's study-level attributes, read once per search: a search across studies
    returns them with every series or instance and matches the study keys against them
    (PS3.18 10.6.3.3)."""

    def __init__(self, request) -> None:
        self.request, self.by_case = request, {}

    def add_to(self, ds: Dataset, case: Case) -> Dataset:
        if case.pk not in self.by_case:
            self.by_case[case.pk] = study_dataset(self.request, case)
        study = self.by_case[case.pk]
        for element in study:
            if element.keyword not in ("RetrieveURL",) and element.tag not in ds:
                ds.add(element)
        return ds


class SearchSeries(SearchView):
    def get(self, request, study_uid: str | None = None):
        filters, ignored = _filters(request, SERIES_KEYS | (set() if study_uid else STUDY_KEYS))
        _paging(request)
        series = Series.objects.filter(case__in=visible_cases(request.user)).select_related("case")
        if study_uid:
            series = series.filter(case__study_instance_uid=study_uid)
        studies = None if study_uid else StudyAttributes(request)
        found = []
        for s in series.order_by("case", "kind", "pk"):
            ds = series_dataset(request, s)
            if studies is not None:
                studies.add_to(ds, s.case)
            if _keep(ds, filters):
                found.append(ds)
        return dicom_json_response(_page(request, found), ignored)


class SearchInstances(SearchView):
    def get(self, request, study_uid: str | None = None, series_uid: str | None = None):
        keys = INSTANCE_KEYS | SERIES_KEYS | ({"StudyInstanceUID"} if study_uid else STUDY_KEYS)
        filters, ignored = _filters(request, keys)
        _paging(request)
        studies = None if study_uid else StudyAttributes(request)
        instances = lookup.visible_instances(request.user)
        if study_uid:
            instances = instances.filter(series__case__study_instance_uid=study_uid)
        if series_uid:
            instances = instances.filter(series__series_instance_uid=series_uid)
        sop = filters.get("SOPInstanceUID")
        if sop and "*" not in sop:
            instances = instances.filter(sop_instance_uid__in=sop.replace("\\", ",").split(","))
        ordered = instances.order_by("series__case", "series__pk", *lookup.ORDER)
        found = []
        for instance in ordered:
            ds = instance_dataset(request, instance)
            ds.Modality = instance.series.modality
            ds.SeriesNumber = instance.series.series_number or ""
            if studies is not None:
                studies.add_to(ds, instance.series.case)
            if _keep(ds, filters):
                found.append(ds)
        return dicom_json_response(_page(request, found), ignored)
