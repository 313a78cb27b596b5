"""The one way in: files -> checks -> one de-identified series -> a Case, or nothing at all."""

from __future__ import annotations

import io
import logging
import tempfile
import warnings
from pathlib import Path

import pydicom
from django.db import IntegrityError, transaction
from django.urls import reverse

from reader_study.ingest import arrival, grouping, zips
from reader_study.ingest.deid import DeidentificationFailed, case_key, deidentify, map_uid
from reader_study.ingest.facts import series_facts
from reader_study.ingest.limits import Limits, current
from reader_study.ingest.report import (
    ACCEPTED,
    DUPLICATE,
    REJECTED,
    FileResult,
    IngestError,
    IngestReport,
    SourceFile,
    refuse,
)
from reader_study.ingest.storage import WrittenFiles
from reader_study.ingest.validate import Checked, Rejected, check
from reader_study.models import Case, Instance, Series, instance_path
from reader_study.signals import case_ready

log = logging.getLogger(__name__)
MAX_LABEL = 64  # the label becomes PatientName/PatientID (PN/LO: 64 characters)
# Parsed files kept between checking and de-identifying, to read each file once;
# beyond this many bytes files are read again instead (memory stays bounded).
KEEP_PARSED_BYTES = 1024**3


def ingest(
    *,
    owner,
    label: str,
    sources: list[SourceFile],
    series_uid: str | None = None,
    strict: bool = False,
    limits: Limits | None = None,
) -> IngestReport:
    """Ingests `sources` as one case of `owner`; raises IngestError (nothing stored) if it can't.

    Files that cannot be used are reported and left out, unless `strict`, where any
    refused file refuses the whole upload.
    """
    limits = limits or current()
    label = _clean_label(label)
    if not sources:
        raise refuse(400, "empty upload: no files were sent")
    with tempfile.TemporaryDirectory(prefix="ldct-ingest-") as workdir:
        results, files = _expand_archives(sources, Path(workdir), limits)
        if len(files) > limits.max_files:
            raise refuse(
                413,
                f"{len(files)} files, more than the limit of {limits.max_files} files per case "
                "(LDCT_MAX_FILES_PER_CASE)",
                results,
            )
        checked = _check_all(files, limits, results)
        if not checked:
            raise refuse(422, _nothing_usable(results), results)
        try:
            plan = grouping.plan(checked, series_uid)
        except IngestError as exc:
            exc.report.files = results + exc.report.files
            raise
        results += plan.results
        refused = [r for r in results if r.status == REJECTED]
        if strict and refused:
            raise refuse(
                422,
                f"{len(refused)} file(s) refused and the upload is all-or-nothing: nothing "
                f"was stored. First: {refused[0].name}: {refused[0].reason}",
                results,
            )
        return _store(owner, label, plan, results)


def _clean_label(label: str) -> str:
    label = " ".join((label or "").split())
    if not label:
        raise refuse(400, "label: a case label is required (your own name for the case)")
    if len(label) > MAX_LABEL:
        raise refuse(400, f"label: at most {MAX_LABEL} characters (it becomes PatientName)")
    return label


def _expand_archives(sources, workdir: Path, limits: Limits):
    results: list[FileResult] = []
    files: list[SourceFile] = []
    budget = limits.max_upload_bytes
    for source in sources:
        if source.verdict is None and source.size and zips.is_zip(source.path):
            try:
                members = zips.expand(source, workdir, limits, budget)
            except zips.ArchiveRefused as exc:
                name, _, reason = str(exc).partition(": ")
                results.append(FileResult(name, REJECTED, reason, 0xC000))
                # The caller learns it here and drops the archive's (identified) bytes.
                source.verdict = {"status": REJECTED, "reason": reason, "code": 0xC000}
                continue
            budget -= sum(m.size for m in members)
            files.extend(members)
        else:
            files.append(source)
    return results, files


def _check_all(files: list[SourceFile], limits: Limits, results: list[FileResult]):
    checked: list[Checked] = []
    kept = 0
    for source in files:
        if source.verdict is not None:  # examined on arrival
            _take_verdict(source, checked, results)
            continue
        keep = kept + source.size <= KEEP_PARSED_BYTES
        kept += source.size if keep else 0
        try:
            checked.append(check(source, limits, keep_dataset=keep))
        except Rejected as exc:
            results.append(FileResult(source.name, REJECTED, str(exc), exc.code))
    return checked


def _take_verdict(source: SourceFile, checked: list[Checked], results: list[FileResult]):
    if source.verdict["status"] == arrival.ACCEPTED:
        checked.append(arrival.checked_from(source))
    else:
        results.append(
            FileResult(source.name, REJECTED, source.verdict["reason"], source.verdict["code"])
        )


def _nothing_usable(results: list[FileResult]) -> str:
    shown = "; ".join(f"{r.name}: {r.reason}" for r in results[:3])
    more = f" (and {len(results) - 3} more)" if len(results) > 3 else ""
    return f"no file could be ingested: {shown}{more}"


def _store(owner, label: str, plan: grouping.SeriesPlan, results: list[FileResult]):
    first = plan.files[0]
    key = case_key(owner, first.study_instance_uid, plan.series_instance_uid)
    existing = Case.objects.filter(source_key=key).first()
    if existing is not None:
        return _already_there(existing, key, plan, results)
    written = WrittenFiles()
    try:
        with transaction.atomic():
            case = _create(owner, label, key, plan, results, written)
    except IntegrityError:
        written.discard()
        raise refuse(
            409,
            "this series is being ingested by another upload right now; try again in a minute",
            results,
        ) from None
    except BaseException:
        written.discard()
        raise
    return _report(case, plan, results, created=True)


def _create(owner, label, key, plan, results, written: WrittenFiles) -> Case:
    first = plan.files[0]
    case = Case.objects.create(
        owner=owner,
        label=label,
        study_instance_uid=map_uid(key, first.study_instance_uid),
        source_key=key,
        status=Case.Status.INGESTING,
    )
    series = Series.objects.create(
        case=case,
        kind=Series.Kind.ORIGINAL,
        series_instance_uid=map_uid(key, plan.series_instance_uid),
        rows=first.rows,
        columns=first.columns,
    )
    instances = []
    for item, position in zip(plan.files, plan.slice_positions, strict=True):
        if arrival.usable(item, key, label):
            instances.append(_adopted_instance(series, item, position, written))
        else:
            ds = _deidentified(item, key, label)
            instances.append(_stored_instance(series, ds, item, position, written))
        results.append(FileResult(item.source.name, ACCEPTED))
    Instance.objects.bulk_create(instances)
    first_ds = _header(instances[0])
    frames = sum(i.number_of_frames for i in instances)
    series.num_instances = len(instances)
    series.series_number = _int_or_none(first_ds.get("SeriesNumber"))
    series.description = str(first_ds.get("SeriesDescription", "") or "")[:64]
    series.facts = series_facts(first_ds, plan.slice_positions, frames) | {
        "warnings": plan.warnings
    }
    series.save()
    attributes = case.take_study_attributes(first_ds)  # what QIDO-RS searches
    case.status = Case.Status.READY
    case.status_message = _summary(len(instances), frames, series, results)
    case.save(update_fields=["status", "status_message", "updated_at", *attributes])
    _announce_ready(case)
    return case


def _announce_ready(case: Case) -> None:
    """Sends case_ready; a failing receiver must not lose the upload.

    Receivers run inside the ingest transaction (they queue work on commit). Each send
    gets a savepoint, so a receiver's failure rolls back only its own database work,
    and the case is stored with a note instead of the whole upload failing.
    """
    try:
        with transaction.atomic():
            case_ready.send(sender=Case, case=case)
    except Exception:
        log.exception("case_ready receiver failed for case %s; the case is kept", case.pk)
        case.status_message += "; automatic denoising could not be queued (see the server log)"
        case.save(update_fields=["status_message", "updated_at"])


def _int_or_none(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


def _deidentified(item: Checked, key: str, label: str) -> pydicom.Dataset:
    ds, item.dataset = item.dataset, None  # used once: de-identification changes it
    source = item.source
    if ds is None and source.path is None and source.data is None:
        # De-identified on arrival for another case key (cannot happen while grouping keeps
        # one study per series); the original is gone by now.
        raise refuse(
            422,
            f"{source.name}: was prepared for another case when it arrived (the server's "
            "SECRET_KEY changed?); discard this upload and start a new one",
        )
    if ds is None:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            ds = pydicom.dcmread(io.BytesIO(source.data) if source.data else source.path)
    try:
        deidentify(ds, case_key=key, label=label)
    except DeidentificationFailed as exc:
        raise refuse(422, f"{item.source.name}: {exc}") from None
    return ds


def _stored_instance(series, ds, item: Checked, position, written: WrittenFiles) -> Instance:
    buffer = io.BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    instance = _instance(
        series,
        item,
        position,
        sop_instance_uid=str(ds.SOPInstanceUID),
        sop_class_uid=str(ds.SOPClassUID),
        transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
        size_bytes=len(data),
    )
    name, digest = written.save(instance_path(instance, f"{ds.SOPInstanceUID}.dcm"), data)
    instance.file.name = name
    instance.sha256 = digest
    return instance


def _adopted_instance(series, item: Checked, position, written: WrittenFiles) -> Instance:
    """A file de-identified on arrival: its stored bytes move into the case."""
    verdict = item.source.verdict
    fields = ("sop_instance_uid", "sop_class_uid", "transfer_syntax_uid", "sha256")
    instance = _instance(
        series, item, position, size_bytes=verdict["size"], **{f: verdict[f] for f in fields}
    )
    target = instance_path(instance, f"{instance.sop_instance_uid}.dcm")
    try:
        instance.file.name = written.adopt(verdict["stored"], target)
    except FileNotFoundError:
        raise refuse(
            409,
            f"{item.source.name}: its checked copy was removed by another request (upload "
            "discarded or file announced again); send the file again",
        ) from None
    return instance


def _instance(series, item: Checked, position, **stored) -> Instance:
    return Instance(
        series=series,
        instance_number=item.instance_number,
        slice_position=position,
        number_of_frames=item.number_of_frames,
        **stored,
    )


def _header(instance: Instance) -> pydicom.Dataset:
    """The first stored file's header: the series facts come from it."""
    with instance.file.open("rb") as fh, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return pydicom.dcmread(fh, stop_before_pixels=True)


def _already_there(case: Case, key: str, plan, results: list[FileResult]) -> IngestReport:
    """The same series again: stored files are duplicates; new ones cannot join a stored case."""
    stored = set(
        Instance.objects.filter(series__case=case).values_list("sop_instance_uid", flat=True)
    )
    added = 0
    for item in plan.files:
        if map_uid(key, item.sop_instance_uid) in stored:
            results.append(FileResult(item.source.name, DUPLICATE, f"already in case {case.label}"))
        else:
            added += 1
            results.append(
                FileResult(
                    item.source.name,
                    REJECTED,
                    f"case {case.label} already holds this series without this slice; a stored "
                    "case is not changed (upload the complete series in one go)",
                )
            )
    if added:
        raise refuse(
            409,
            f"this series is already case '{case.label}'; {added} new file(s) were not added",
            results,
            case=_case_summary(case),
        )
    return _report(case, plan, results, created=False)


def _summary(instances: int, frames: int, series: Series, results: list[FileResult]) -> str:
    refused = sum(r.status == REJECTED for r in results)
    dupes = sum(r.status == DUPLICATE for r in results)
    text = f"{frames} slices ({series.rows}x{series.columns}) in {instances} files"
    if refused or dupes:
        text += f"; {refused} file(s) refused, {dupes} duplicate(s) skipped"
    return text


def _case_summary(case: Case) -> dict:
    return {
        "id": case.pk,
        "label": case.label,
        "status": case.status,
        "study_instance_uid": case.study_instance_uid,
        "url": reverse("case-detail", args=[case.pk]),
    }


def _report(case: Case, plan, results: list[FileResult], *, created: bool) -> IngestReport:
    series = case.original_series
    if created:
        message = f"Case '{case.label}' created: {case.status_message}."
    else:
        message = f"Nothing changed: case '{case.label}' already holds all these files."
    summary = _case_summary(case) | {
        "created": created,
        "slices": series.facts.get("slices") if series else 0,
        "size": f"{series.rows}x{series.columns}" if series else "",
    }
    return IngestReport(
        ok=True, message=message, files=results, warnings=plan.warnings, case=summary
    )
