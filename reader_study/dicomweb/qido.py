"""QIDO-RS: search studies, series and instances (application/dicom+json).

Matching covers the study keys PS3.18 table 10.6.1-5 requires (StudyDate, StudyTime,
AccessionNumber, ModalitiesInStudy, ReferringPhysicianName, PatientName, PatientID,
StudyInstanceUID, StudyID) plus StudyDescription, the series keys (Modality,
SeriesInstanceUID, SeriesNumber) and the instance keys (SOPClassUID, SOPInstanceUID,
InstanceNumber), by keyword or by tag (either case of hex): UID lists, * and ? wildcards,
date and time ranges (PS3.4 C.2.2.2); a key given twice matches either value. Series and
instance searches across all studies also carry and match the study-level attributes. Other
keys are ignored with a Warning header, as PS3.18 allows.
"""

from __future__ import annotations

import json
import re

from django.http import HttpResponse
from pydicom.datadict import dictionary_VR, keyword_for_tag, tag_for_keyword
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from rest_framework.exceptions import NotAcceptable, ParseError

from reader_study.access import visible_cases
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
    "StudyDate",
    "StudyTime",
    "AccessionNumber",
    "ReferringPhysicianName",
    "StudyID",
    "StudyDescription",
}
SERIES_KEYS = {"SeriesInstanceUID", "Modality", "SeriesNumber"}
INSTANCE_KEYS = {"SOPInstanceUID", "SOPClassUID", "InstanceNumber"}


def dicom_json_response(datasets: list[Dataset], ignored: list[str]) -> HttpResponse:
    body = json.dumps([ds.to_json_dict() for ds in datasets])
    response = HttpResponse(body, content_type=DICOM_JSON)
    if ignored:
        # Keys are the client's text: only printable ASCII (no quotes, no line breaks) goes
        # into a header, at most 40 characters of each.
        names = ", ".join(re.sub(r'[^ -~]|"', "?", key)[:40] for key in ignored)
        response["Warning"] = f'299 ldct "Ignored unsupported query keys: {names}"'
    return response


def _keyword(key: str) -> str:
    """The keyword a query key names: itself, or the keyword of a tag in hex (PS3.18
    attributeID, either case)."""
    if re.fullmatch(r"[0-9A-Fa-f]{8}", key):
        return keyword_for_tag(int(key, 16)) or key
    return key


def _filters(request, supported: set[str]) -> tuple[dict[str, list[str]], list[str]]:
    """{keyword: [patterns]} of the supported keys, and the keys ignored."""
    filters: dict[str, list[str]] = {}
    ignored = []
    for key, values in request.query_params.lists():
        if key.lower() in CONTROL:
            continue
        keyword = _keyword(key)
        if keyword in supported:
            for value in values:
                _check_value(keyword, value)
            filters.setdefault(keyword, []).extend(values)
        else:
            ignored.append(key)
    return filters, ignored


# Longer than any DICOM value it could match (PN: 5 groups of 64 characters); a UID list may
# name a page of studies.
MAX_VALUE_CHARS = 400
MAX_UID_LIST_CHARS = 65 * 1000
DATE = r"\d{8}"
TIME = r"\d{2}(:?\d{2}(:?\d{2}(\.\d{1,6})?)?)?"
FORMATS = {
    "DA": (rf"{DATE}|{DATE}-|-{DATE}|{DATE}-{DATE}", "YYYYMMDD, or a range YYYYMMDD-YYYYMMDD"),
    "TM": (
        rf"{TIME}|{TIME}-|-{TIME}|{TIME}-{TIME}",
        "HHMMSS.FFFFFF (or a leading part), or a range",
    ),
}


def _check_value(keyword: str, value: str) -> None:
    """BadQuery (400) for a value its key cannot hold: a malformed date or time (range), a
    wildcard in a UID (PS3.4 C.2.2.2: UIDs match singly or as a list)."""
    vr = dictionary_VR(tag_for_keyword(keyword))
    if value == "":
        return  # universal matching
    limit = MAX_UID_LIST_CHARS if vr == "UI" else MAX_VALUE_CHARS
    if len(value) > limit:
        raise BadQuery(f"{keyword}: the value is {len(value)} characters; at most {limit}")
    if vr in FORMATS and not re.fullmatch(FORMATS[vr][0], value):
        raise BadQuery(f"{keyword}={value!r}: expected {FORMATS[vr][1]}")
    if vr == "UI" and ("*" in value or "?" in value):
        raise BadQuery(f"{keyword}={value!r}: wildcards are not allowed in UIDs; list them")


def uid_list(patterns: list[str] | None) -> list[str] | None:
    """The UIDs a UID key lists (comma or backslash separated, repeatable), or None when it
    is absent or empty (any UID)."""
    if not patterns or any(p == "" for p in patterns):
        return None  # an empty value is universal matching
    return [u.strip() for p in patterns for u in p.replace("\\", ",").split(",") if u.strip()]


def _time_bound(text: str, upper: bool) -> float:
    """A TM value as seconds since midnight; a partial upper bound covers its whole span."""
    hhmmss, _, fraction = text.replace(":", "").partition(".")
    filler = "235959" if upper else "000000"
    hhmmss = hhmmss + filler[len(hhmmss) :]
    seconds = int(hhmmss[:2]) * 3600 + int(hhmmss[2:4]) * 60 + int(hhmmss[4:6])
    if fraction:
        return seconds + float("0." + fraction)
    return seconds + (0.999999 if upper and len(text.replace(":", "")) <= 6 else 0.0)


def _in_range(value: str, pattern: str, vr: str) -> bool:
    """PS3.4 C.2.2.2.5 range matching of a DA or TM value; either bound may be left out."""
    low, _, high = pattern.partition("-")
    low, high, value = low.strip(), high.strip(), value.strip()
    if not value:
        return False
    if vr == "DA":
        return (not low or value >= low) and (not high or value <= high)
    try:  # the bounds were checked (_check_value); a stored value may be malformed
        seconds = _time_bound(value, upper=False)
    except ValueError:
        return False
    return (not low or seconds >= _time_bound(low, upper=False)) and (
        not high or seconds <= _time_bound(high, upper=True)
    )


def wildcard_match(value: str, pattern: str) -> bool:
    """DICOM's wildcards (* any run, ? one character; all else itself, case-insensitive).

    Greedy matching that backtracks only to the last star: at most len(value) x
    len(pattern) steps whatever the pattern, where a regular expression of many stars
    backtracks exponentially.
    """
    value, pattern = value.casefold(), re.sub(r"\*+", "*", pattern.casefold())
    v = p = 0
    star = resume = -1
    while v < len(value):
        if p < len(pattern) and pattern[p] in ("?", value[v]):
            v, p = v + 1, p + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, resume, p = p, v, p + 1
        elif star >= 0:  # let the last star take one more character
            resume += 1
            v, p = resume, star + 1
        else:
            return False
    return pattern[p:].strip("*") == ""


def _matches(value: str, pattern: str, vr: str = "") -> bool:
    if pattern == "" or pattern == "*":
        return True  # universal matching
    # A list: UIDs (PS3.4 C.2.2.2.2), and any key with "\\" (PS3.18's multiple values) or,
    # for code strings such as ModalitiesInStudy, a comma (PS3.18 8.3.4.1).
    if vr == "UI" or "\\" in pattern or (vr == "CS" and "," in pattern):
        return value in {p.strip() for p in pattern.replace("\\", ",").split(",")}
    if vr in ("DA", "TM") and "-" in pattern:
        return _in_range(value, pattern, vr)
    if "*" in pattern or "?" in pattern:
        return wildcard_match(value, pattern)
    if vr == "PN":
        return value.upper() == pattern.upper()
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
    ds.RetrieveURL = lookup.study_url(request, case.study_instance_uid)
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
    ds.RetrieveURL = lookup.study_url(request, ds.StudyInstanceUID, series.series_instance_uid)
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
    ds.RetrieveURL = lookup.absolute_url(request, lookup.instance_path(instance))
    return ds


def _keep(ds: Dataset, filters: dict[str, list[str]]) -> bool:
    for keyword, patterns in filters.items():
        value = ds.get(keyword, "")
        values = [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]
        vr = dictionary_VR(tag_for_keyword(keyword))
        if not any(_matches(v, p, vr) for p in patterns for v in values):
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
        uids = uid_list(filters.get("StudyInstanceUID"))
        if uids is not None:
            cases = cases.filter(study_instance_uid__in=uids)
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
        sops = uid_list(filters.get("SOPInstanceUID"))
        if sops is not None:
            instances = instances.filter(sop_instance_uid__in=sops)
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
