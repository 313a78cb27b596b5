"""Finding and reading stored instances, always through what the caller may see."""

from __future__ import annotations

import io
import warnings

import numpy as np
import pydicom
from django.conf import settings
from django.db.models import QuerySet
from django.http import Http404
from django.urls import reverse
from pydicom.dataset import Dataset
from pydicom.filewriter import dcmwrite
from pydicom.uid import UID

from reader_study.access import visible_cases
from reader_study.models import Case, Instance, Series

ORDER = ("slice_position", "instance_number", "pk")


def visible_instances(user) -> QuerySet[Instance]:
    return Instance.objects.filter(series__case__in=visible_cases(user)).select_related(
        "series__case"
    )


def case_for_study(user, study_uid: str) -> Case:
    case = visible_cases(user).filter(study_instance_uid=study_uid).first()
    if case is None:
        raise Http404(f"no study {study_uid} that you can see")
    return case


def series_of(user, study_uid: str, series_uid: str) -> Series:
    series = Series.objects.filter(
        case__in=visible_cases(user),
        case__study_instance_uid=study_uid,
        series_instance_uid=series_uid,
    ).first()
    if series is None:
        raise Http404(f"no series {series_uid} in study {study_uid} that you can see")
    return series


def instances_of(user, study_uid: str, series_uid: str | None = None) -> list[Instance]:
    found = visible_instances(user).filter(series__case__study_instance_uid=study_uid)
    if series_uid:
        found = found.filter(series__series_instance_uid=series_uid)
    found = list(found.order_by("series__kind", "series__pk", *ORDER))
    if not found:
        raise Http404("no instances found that you can see")
    return found


def instance_of(user, study_uid: str, series_uid: str, sop_uid: str) -> Instance:
    instance = (
        visible_instances(user)
        .filter(
            series__case__study_instance_uid=study_uid,
            series__series_instance_uid=series_uid,
            sop_instance_uid=sop_uid,
        )
        .first()
    )
    if instance is None:
        raise Http404(f"no instance {sop_uid} in that series that you can see")
    return instance


def instance_path(instance: Instance) -> str:
    series = instance.series
    return reverse(
        "dicomweb:instance",
        args=[
            series.case.study_instance_uid,
            series.series_instance_uid,
            instance.sop_instance_uid,
        ],
    )


def absolute_url(request, path: str) -> str:
    """``path`` (from reverse()) as an absolute URL under LDCT_PUBLIC_URL, or the request's."""
    base = settings.LDCT_PUBLIC_URL
    return base + path if base else request.build_absolute_uri(path)


def study_url(request, study_uid: str, series_uid: str | None = None, sop_uid: str | None = None):
    """The absolute RetrieveURL of a study, series or instance."""
    uids = [uid for uid in (study_uid, series_uid, sop_uid) if uid]
    name = ("study", "series", "instance")[len(uids) - 1]
    return absolute_url(request, reverse(f"dicomweb:{name}", args=uids))


def read(instance: Instance, pixels: bool = True) -> Dataset:
    with instance.file.open("rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(fh, stop_before_pixels=not pixels)


def raw_bytes(instance: Instance) -> bytes:
    with instance.file.open("rb") as fh:
        return fh.read()


# Bytes per word of the binary VRs whose values pydicom keeps raw: big-endian files hold
# them byte-swapped (PS3.5 7.3), every other VR is re-encoded from its value.
WORD_BYTES = {"OW": 2, "OF": 4, "OL": 4, "OD": 8, "OV": 8}


def encoded(instance: Instance, syntax: str) -> bytes:
    """The instance as a Part 10 file in `syntax`: the stored bytes, or re-encoded in one of
    the native syntaxes (Explicit or Implicit VR Little Endian) from any stored one."""
    if syntax == instance.transfer_syntax_uid:
        return raw_bytes(instance)
    ds = read(instance)
    stored = ds.file_meta.TransferSyntaxUID
    target = UID(syntax)
    out = io.BytesIO()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if stored.is_compressed:
            # -> Explicit VR Little Endian, native pixels; the instance keeps its UID.
            ds.decompress(generate_instance_uid=False)
        ds.file_meta.TransferSyntaxUID = target
        if stored.is_little_endian:
            ds.save_as(out, enforce_file_format=True)  # only the VR encoding changes
        else:
            _swap_words_to_little_endian(ds)
            # save_as refuses to change endianness; dcmwrite re-encodes every value.
            dcmwrite(
                out, ds, implicit_vr=target.is_implicit_VR, little_endian=True, force_encoding=True
            )
    return out.getvalue()


def _swap_words_to_little_endian(ds: Dataset) -> None:
    """Byte-swaps the raw words of OW/OF/OL/OD/OV values read from a big-endian file (pixel
    data, LUTs, overlays...); 8-bit pixel data is OB and has nothing to swap."""
    for element in ds.iterall():
        size = WORD_BYTES.get(element.VR)
        if size and isinstance(element.value, bytes) and len(element.value) % size == 0:
            element.value = np.frombuffer(element.value, f">u{size}").astype(f"<u{size}").tobytes()
