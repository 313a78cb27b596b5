"""QIDO-RS: search studies, series and instances (application/dicom+json), in SQL.

Matching covers the study keys PS3.18 table 10.6.1-5 requires (StudyDate, StudyTime,
AccessionNumber, ModalitiesInStudy, ReferringPhysicianName, PatientName, PatientID,
StudyInstanceUID, StudyID) plus StudyDescription, the series keys (Modality,
SeriesInstanceUID, SeriesNumber) and the instance keys (SOPClassUID, SOPInstanceUID,
InstanceNumber), by keyword or by tag (either case of hex): UID lists, * and ? wildcards,
date and time ranges (PS3.4 C.2.2.2); a key given twice matches either value. Series and
instance searches across all studies also carry and match the study-level attributes. Other
keys are ignored with a Warning header, as PS3.18 allows.

Every search is answered from the database: the study attributes are columns of Case,
filled at ingest; each key becomes a SQL condition; limit and offset page in SQL, studies
oldest first (created_at, then id), series and instances in a fixed order within them, in a
number of queries that does not grow with the archive. Wildcard matching ignores case, and
so does exact matching of person names; other values match exactly. `includefield` (keywords
or tags, or `all`) adds study attributes beyond PS3.18's default set: StudyDescription.
"""

from __future__ import annotations

import json
import re

from django.db.models import (
    CharField,
    Exists,
    F,
    Func,
    OuterRef,
    Prefetch,
    Q,
    QuerySet,
    Value,
    prefetch_related_objects,
)
from django.db.models.functions import Cast, Coalesce, Left
from django.db.models.lookups import (
    Exact,
    GreaterThanOrEqual,
    IExact,
    In,
    IsNull,
    LessThanOrEqual,
    Lookup,
)
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
from reader_study.models.cases import STUDY_ATTRIBUTES, tm_seconds

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
# The study attributes returned unasked: PS3.18 table 10.6.3-3, those we have.
STUDY_RETURNED = frozenset(
    {
        "StudyDate",
        "StudyTime",
        "AccessionNumber",
        "InstanceAvailability",
        "ModalitiesInStudy",
        "ReferringPhysicianName",
        "RetrieveURL",
        "PatientName",
        "PatientID",
        "PatientBirthDate",
        "PatientSex",
        "StudyInstanceUID",
        "StudyID",
        "NumberOfStudyRelatedSeries",
        "NumberOfStudyRelatedInstances",
        # Beyond PS3.18's default: viewers show it in their study lists, and it always was.
        "StudyDescription",
    }
)
# ...and those returned when asked for (includefield) or matched on.
STUDY_INCLUDABLE = STUDY_RETURNED

# Where each key's value is: a column of Case, Series or Instance. PatientName and PatientID
# are the case label; ModalitiesInStudy is the modalities of the case's series.
CASE_COLUMNS = {**STUDY_ATTRIBUTES, "StudyInstanceUID": "study_instance_uid"}
SERIES_COLUMNS = {
    "SeriesInstanceUID": "series_instance_uid",
    "Modality": "modality",
    "SeriesNumber": "series_number",
}
INSTANCE_COLUMNS = {
    "SOPInstanceUID": "sop_instance_uid",
    "SOPClassUID": "sop_class_uid",
    "InstanceNumber": "instance_number",
}
SECONDS_COLUMNS = {"StudyTime": "study_time_seconds"}  # what TM ranges compare
LABEL_KEYS = ("PatientName", "PatientID")
LABEL_CHARS = 64  # PN/LO: a longer label is answered (and matched) cut to 64 characters


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


# --- The matching rules in Python, over one value: the reference the SQL conditions below are
# tested against (tests/dicomweb/test_qido_sql.py), and the answer for what no row holds.


def _in_range(value: str, pattern: str, vr: str) -> bool:
    """PS3.4 C.2.2.2.5 range matching of a DA or TM value; either bound may be left out."""
    low, _, high = pattern.partition("-")
    low, high, value = low.strip(), high.strip(), value.strip()
    if not value:
        return False
    if vr == "DA":
        return (not low or value >= low) and (not high or value <= high)
    try:  # the bounds were checked (_check_value); a stored value may be malformed
        seconds = tm_seconds(value)
    except ValueError:
        return False
    return (not low or seconds >= tm_seconds(low)) and (
        not high or seconds <= tm_seconds(high, upper=True)
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


def _vr(keyword: str) -> str:
    return dictionary_VR(tag_for_keyword(keyword))


def _keep(ds: Dataset, filters: dict[str, list[str]]) -> bool:
    """Whether `ds` matches every key of `filters` (any of its values)."""
    for keyword, patterns in filters.items():
        value = ds.get(keyword, "")
        values = [str(v) for v in value] if isinstance(value, MultiValue | list) else [str(value)]
        if not any(_matches(v, p, _vr(keyword)) for p in patterns for v in values):
            return False
    return True


# --- The same rules as SQL conditions ------------------------------------------------------


@CharField.register_lookup
class ILike(Lookup):
    """`column__ilike=pattern`: SQL LIKE ignoring case, `\\` escaping a literal %, _ or
    itself (like_pattern writes one); Postgres ILIKE, elsewhere UPPER() on both sides."""

    lookup_name = "ilike"

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        rhs, rhs_params = self.process_rhs(compiler, connection)
        if connection.vendor == "postgresql":
            sql = f"{lhs} ILIKE {rhs} ESCAPE '\\'"
        else:
            sql = f"UPPER({lhs}) LIKE UPPER({rhs}) ESCAPE '\\'"
        return sql, [*lhs_params, *rhs_params]


class Bytewise(Func):
    """Text compared character by character as Python compares strings, whatever the
    database's collation: Postgres's `COLLATE "C"` (SQLite compares so already)."""

    arity = 1
    template = "%(expressions)s"

    def as_postgresql(self, compiler, connection, **extra_context):
        template = '%(expressions)s COLLATE "C"'
        return self.as_sql(compiler, connection, template=template, **extra_context)


def like_pattern(pattern: str) -> str:
    """DICOM wildcards (* any run, ? one character) as a LIKE pattern escaped by `\\`."""
    escaped = re.sub(r"([\\%_])", r"\\\1", pattern)
    return re.sub(r"\*+", "%", escaped).replace("?", "_")


def _column(keyword: str, case: str, series: str):
    """The expression of `keyword`'s value, from rows whose Case is at the path `case` and
    whose Series at `series` ("" for the rows themselves, "case__"...)."""
    if keyword in LABEL_KEYS:
        return Left(f"{case}label", LABEL_CHARS)
    if keyword in CASE_COLUMNS:
        return F(case + CASE_COLUMNS[keyword])
    if keyword in SERIES_COLUMNS:
        path = series + SERIES_COLUMNS[keyword]
    else:
        path = INSTANCE_COLUMNS[keyword]
    if keyword in ("SeriesNumber", "InstanceNumber"):  # IS: matched as the text answered
        return Coalesce(Cast(path, CharField()), Value(""))
    return F(path)


def _value_condition(column, pattern: str, vr: str, seconds=None) -> Q:
    """`column` matches `pattern` (as _matches says); `seconds` is its TM value in seconds."""
    if vr == "UI" or "\\" in pattern or (vr == "CS" and "," in pattern):
        listed = {p.strip() for p in pattern.replace("\\", ",").split(",")}
        return Q(In(column, sorted(listed)))
    if vr in ("DA", "TM") and "-" in pattern:
        low, _, high = (bound.strip() for bound in pattern.partition("-"))
        if vr == "DA":  # YYYYMMDD: compared as text
            where, column = ~Q(Exact(column, "")), Bytewise(column)
            where &= Q(GreaterThanOrEqual(column, low)) if low else Q()
            return where & (Q(LessThanOrEqual(column, high)) if high else Q())
        where = Q(IsNull(seconds, False))
        where &= Q(GreaterThanOrEqual(seconds, tm_seconds(low))) if low else Q()
        return where & (Q(LessThanOrEqual(seconds, tm_seconds(high, upper=True))) if high else Q())
    if "*" in pattern or "?" in pattern:
        return Q(ILike(column, like_pattern(pattern)))
    if vr == "PN":
        return Q(IExact(column, pattern))
    return Q(Exact(column, pattern))


def _modalities_condition(pattern: str, case: str) -> Q:
    """A series of the case has a matching modality; a case without series yet (being
    ingested) counts as CT, as it is answered."""
    of_case = Series.objects.filter(case=OuterRef(case.removesuffix("__") or "pk"))
    where = Q(Exists(of_case.filter(_value_condition(F("modality"), pattern, "CS"))))
    return (where | ~Q(Exists(of_case))) if _matches("CT", pattern, "CS") else where


def _where(filters: dict[str, list[str]], case: str = "", series: str = "") -> Q:
    """The SQL condition of `filters`: each key matches one of its values."""
    where = Q()
    for keyword, patterns in filters.items():
        if any(p in ("", "*") for p in patterns):
            continue  # universal matching
        either = Q()
        for pattern in patterns:
            if keyword == "ModalitiesInStudy":
                either |= _modalities_condition(pattern, case)
                continue
            seconds = F(case + SECONDS_COLUMNS[keyword]) if keyword in SECONDS_COLUMNS else None
            column = _column(keyword, case, series)
            either |= _value_condition(column, pattern, _vr(keyword), seconds)
        where &= either
    return where


class BadQuery(ParseError):
    """400 with the reason, through DRF's exception handling."""


# Beyond any table's size; bounds what reaches SQL (a 64-bit integer).
MAX_PAGING = 10**15


def _paging(request) -> tuple[int, int]:
    """(offset, limit) from the query; BadQuery (400) for anything but non-negative integers."""
    values = []
    for name in ("offset", "limit"):
        raw = request.query_params.get(name) or "0"  # empty: as if absent
        if not (raw.isascii() and raw.isdigit()):
            raise BadQuery(f"{name} must be a non-negative integer, not {raw!r}")
        values.append(int(raw) if len(raw) < 16 else MAX_PAGING)
    return min(values[0], MAX_PAGING), min(values[1], MAX_PAGING)


def _page(rows: QuerySet, offset: int, limit: int) -> QuerySet:
    return rows[offset : offset + limit] if limit > 0 else rows[offset:]


def _included(request, filters: dict[str, list[str]]) -> frozenset[str]:
    """The study attributes to return: PS3.18's default set, the matching keys and those
    `includefield` names (keywords or tags, comma-separated, repeatable, or `all`); names of
    attributes we do not have are ignored."""
    names = set(filters)
    for key, values in request.query_params.lists():
        if key.lower() == "includefield":
            names.update(_keyword(n.strip()) for value in values for n in value.split(","))
    if any(name.lower() == "all" for name in names):
        return STUDY_INCLUDABLE
    return STUDY_RETURNED | (names & STUDY_INCLUDABLE)


# Cases whose series one query fetches: bounds the parameters of its IN list (SQLite allows
# 32766), so only a page of more studies than this takes more than one query.
SUMMARY_BATCH = 1000


def _with_series(cases: list[Case]) -> list[Case]:
    """`cases` (each once) with what a study answers of its series, modality and size, fetched
    in one query per SUMMARY_BATCH cases."""
    cases = list({case.pk: case for case in cases}.values())
    summary = Series.objects.only("case", "modality", "num_instances").order_by()
    for start in range(0, len(cases), SUMMARY_BATCH):
        batch = cases[start : start + SUMMARY_BATCH]
        prefetch_related_objects(batch, Prefetch("series", queryset=summary))
    return cases


def study_dataset(request, case: Case, included=STUDY_INCLUDABLE) -> Dataset:
    """A case's study attributes, from its row and its series (fetched by _with_series)."""
    series = list(case.series.all())
    label = case.label[:LABEL_CHARS]
    values = {
        **{keyword: getattr(case, field) for keyword, field in STUDY_ATTRIBUTES.items()},
        "StudyInstanceUID": case.study_instance_uid,
        "PatientName": label,
        "PatientID": label,
        "ModalitiesInStudy": sorted({s.modality for s in series}) or ["CT"],
        "NumberOfStudyRelatedSeries": len(series),
        "NumberOfStudyRelatedInstances": sum(s.num_instances for s in series),
        "InstanceAvailability": "ONLINE",
    }
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    for keyword, value in values.items():
        if keyword in included:
            setattr(ds, keyword, value)
    if "RetrieveURL" in included:
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


class StudyAttributes:
    """The study-level attributes a search across studies returns with every series or
    instance (PS3.18 10.6.3.3), from the rows of the cases on the page."""

    def __init__(self, request, cases: list[Case], included: frozenset[str]) -> None:
        self.by_case = {c.pk: study_dataset(request, c, included) for c in _with_series(cases)}

    def add_to(self, ds: Dataset, case: Case) -> Dataset:
        for element in self.by_case[case.pk]:
            if element.keyword != "RetrieveURL" and element.tag not in ds:
                ds.add(element)
        return ds


class SearchView(DicomWebView):
    """A search: answered in DICOM JSON, or 406 to a client that accepts none of it."""

    def initial(self, request, *args, **kwargs):
        super().initial(request, *args, **kwargs)  # who is asking comes first (401/403)
        if not accepts(request.headers.get("Accept"), DICOM_JSON, "application/json"):
            raise NotAcceptable("search results are sent as application/dicom+json")


class SearchStudies(SearchView):
    def get(self, request):
        filters, ignored = _filters(request, STUDY_KEYS)
        offset, limit = _paging(request)
        included = _included(request, filters)
        cases = visible_cases(request.user).filter(_where(filters)).order_by("created_at", "pk")
        page = _with_series(list(_page(cases, offset, limit)))
        return dicom_json_response([study_dataset(request, c, included) for c in page], ignored)


class SearchSeries(SearchView):
    def get(self, request, study_uid: str | None = None):
        filters, ignored = _filters(request, SERIES_KEYS | (set() if study_uid else STUDY_KEYS))
        offset, limit = _paging(request)
        series = Series.objects.filter(case__in=visible_cases(request.user)).select_related("case")
        if study_uid:
            series = series.filter(case__study_instance_uid=study_uid)
        series = series.filter(_where(filters, case="case__")).order_by(
            "case__created_at", "case__pk", "kind", "pk"
        )
        page = list(_page(series, offset, limit))
        found = [series_dataset(request, s) for s in page]
        if not study_uid:
            studies = StudyAttributes(request, [s.case for s in page], _included(request, filters))
            for ds, s in zip(found, page, strict=True):
                studies.add_to(ds, s.case)
        return dicom_json_response(found, ignored)


class SearchInstances(SearchView):
    def get(self, request, study_uid: str | None = None, series_uid: str | None = None):
        keys = INSTANCE_KEYS | SERIES_KEYS | ({"StudyInstanceUID"} if study_uid else STUDY_KEYS)
        filters, ignored = _filters(request, keys)
        offset, limit = _paging(request)
        instances = lookup.visible_instances(request.user)
        if study_uid:
            instances = instances.filter(series__case__study_instance_uid=study_uid)
        if series_uid:
            instances = instances.filter(series__series_instance_uid=series_uid)
        instances = instances.filter(
            _where(filters, case="series__case__", series="series__")
        ).order_by("series__case__created_at", "series__case__pk", "series__pk", *lookup.ORDER)
        page = list(_page(instances, offset, limit))
        found = []
        for instance in page:
            ds = instance_dataset(request, instance)
            ds.Modality = instance.series.modality
            ds.SeriesNumber = instance.series.series_number or ""
            found.append(ds)
        if not study_uid:
            cases = [i.series.case for i in page]
            studies = StudyAttributes(request, cases, _included(request, filters))
            for ds, instance in zip(found, page, strict=True):
                studies.add_to(ds, instance.series.case)
        return dicom_json_response(found, ignored)
