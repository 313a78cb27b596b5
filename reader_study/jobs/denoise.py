"""The work of a DenoiseJob: original series -> Denoiser -> derived series, registered atomically.

Idempotent by construction:
- every attempt writes its files under its own folder (…/denoised/<model>/a<attempt>/), so a
  lost attempt that is still writing never clobbers the one that now owns the job;
- the Series and its Instances are created in one transaction together with the job's
  `succeeded`, and only while this attempt still owns the job (the fence);
- derived UIDs are deterministic (source UID + model name/version) and unique in the
  database, and one denoised series per (case, model) is a constraint, so a re-run can
  never register a second series;
- files of earlier attempts (and of a failed one) are deleted.
"""

from __future__ import annotations

import hashlib
import io
import logging
import time
from collections import OrderedDict

import numpy as np
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage

from reader_study.jobs.lifecycle import Attempt
from reader_study.models import DenoiseJob, DenoiserModel, Instance, Series
from reader_study.registry import service as registry

log = logging.getLogger(__name__)
MODEL_CACHE_SIZE = 2  # loaded models kept per worker process (GPU memory is the limit)
_models: OrderedDict[tuple[int, str], object] = OrderedDict()


class Stopwatch:
    """Seconds per step of a job, for the worker log and the benchmark."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}

    def lap(self, name: str, fn, *args, **kwargs):
        start = time.perf_counter()
        try:
            return fn(*args, **kwargs)
        finally:
            self.laps[name] = round(time.perf_counter() - start, 3)

    def __str__(self) -> str:
        return ", ".join(f"{k} {v:.2f}s" for k, v in self.laps.items())


class JobInputError(ValueError):
    """The job cannot run on what it was given (no original series...); not worth a retry."""


def load_denoiser(model: DenoiserModel):
    """The loaded Denoiser for a registry entry, cached per worker process."""
    from denoiser import Denoiser

    key = (model.pk, model.sha256)
    if key in _models:
        _models.move_to_end(key)
        return _models[key]
    loaded = Denoiser.load(registry.local_checkpoint(model))
    _models[key] = loaded
    while len(_models) > MODEL_CACHE_SIZE:
        _models.popitem(last=False)
    log.info("loaded %s %s on %s", model.name, model.version, loaded.device)
    return loaded


def output_folder(job: DenoiseJob) -> str:
    return f"cases/{job.case_id}/denoised/model-{job.denoiser_model_id}"


def attempt_folder(job: DenoiseJob, number: int) -> str:
    return f"{output_folder(job)}/a{number}"


def _attempt_folders(job: DenoiseJob) -> dict[int, str]:
    root = output_folder(job)
    if not default_storage.exists(root):
        return {}
    folders, _ = default_storage.listdir(root)
    return {int(f[1:]): f"{root}/{f}" for f in folders if f[:1] == "a" and f[1:].isdigit()}


def remove_attempt_files(job: DenoiseJob, keep: int, only_older: bool = False) -> None:
    """Deletes other attempts' files: all but `keep`, or (at start) only older ones.

    At start an attempt must not touch newer folders: if it is itself a lost attempt
    still running, a newer one owns the job and is writing there.
    """
    for number, folder in _attempt_folders(job).items():
        if number != keep and (number < keep or not only_older):
            _remove_tree(folder)


def discard(attempt: Attempt) -> None:
    """After a failed or lost attempt: its own files go, unless they became the series."""
    job = attempt.job
    registered = job.output_series if isinstance(job, DenoiseJob) else None
    if registered is not None and _registered_attempt(registered) == attempt.number:
        return
    folder = _attempt_folders(job).get(attempt.number)
    if folder:
        _remove_tree(folder)


def _remove_tree(path: str) -> None:
    folders, files = default_storage.listdir(path)
    for name in files:
        default_storage.delete(f"{path}/{name}")
    for folder in folders:
        _remove_tree(f"{path}/{folder}")
    if hasattr(default_storage, "path"):
        try:  # local storage leaves empty folders behind
            import os

            os.rmdir(default_storage.path(path))
        except (NotImplementedError, OSError):
            pass


def read_source(series: Series):
    """HU volume and headers of a stored series (read through storage, so S3 works too)."""
    from denoiser.dicom.read import read_series

    handles = [instance.file.open("rb") for instance in series.instances.all()]
    try:
        return read_series(handles)
    finally:
        for handle in handles:
            handle.close()


def _encode(dataset) -> bytes:
    buffer = io.BytesIO()
    dataset.save_as(buffer, enforce_file_format=True)
    return buffer.getvalue()


def store_datasets(datasets, folder: str) -> list[dict]:
    """Writes each derived dataset to storage; returns what the Instance rows need."""
    from denoiser.dicom.standard import slice_normal

    normal = slice_normal(datasets[0])
    stored = []
    for ds in datasets:
        data = _encode(ds)
        name = f"{folder}/{ds.SOPInstanceUID}.dcm"
        if default_storage.exists(name):
            default_storage.delete(name)
        saved = default_storage.save(name, ContentFile(data))
        position = None
        if normal is not None and "ImagePositionPatient" in ds:
            position = float(np.dot(np.asarray(ds.ImagePositionPatient, float), normal))
        stored.append(
            {
                "sop_instance_uid": str(ds.SOPInstanceUID),
                "sop_class_uid": str(ds.SOPClassUID),
                "transfer_syntax_uid": str(ds.file_meta.TransferSyntaxUID),
                "instance_number": int(ds.get("InstanceNumber") or 0) or None,
                "slice_position": position,
                "file": saved,
                "size_bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
            }
        )
    return stored


def register_series(
    attempt: Attempt, source: Series, datasets, stored: list[dict], message: str = ""
) -> Series:
    """Series + Instances + job `succeeded`, all or nothing, only while the attempt owns the job."""
    from reader_study.jobs import lifecycle

    first = datasets[0]
    job = attempt.job
    with attempt.fenced():
        series = _existing_series(job)
        if series is None:
            series = Series.objects.create(
                case=job.case,
                kind=Series.Kind.DENOISED,
                denoiser_model=job.denoiser_model,
                series_instance_uid=str(first.SeriesInstanceUID),
                series_number=int(first.get("SeriesNumber") or 0) or None,
                description=str(first.get("SeriesDescription", ""))[:64],
                modality=str(first.get("Modality", "CT")),
                rows=int(first.Rows),
                columns=int(first.Columns),
                num_instances=len(stored),
                facts={**source.facts, "denoised_by": str(job.denoiser_model)},
            )
            Instance.objects.bulk_create(Instance(series=series, **row) for row in stored)
        lifecycle.succeed(attempt, message, output_series=series)
    return series


def run(attempt: Attempt) -> dict:
    """Denoises the job's case; the caller handles errors and clean-up."""
    from denoiser.dicom.derive import derived_datasets

    job = DenoiseJob.objects.select_related("case", "denoiser_model").get(pk=attempt.job.pk)
    attempt.job = job
    source = job.case.original_series
    if source is None or not source.instances.exists():
        raise JobInputError(
            f"Case {job.case.label!r} has no stored original series to denoise. "
            "Upload the case again, then retry."
        )
    existing = _existing_series(job)
    if existing is not None:  # denoised before this job row existed: nothing to compute
        from reader_study.jobs import lifecycle

        lifecycle.succeed(attempt, output_series=existing)
        return {"job": job.pk, "series": existing.pk, "instances": existing.num_instances}
    remove_attempt_files(job, keep=attempt.number, only_older=True)
    clock = Stopwatch()
    denoiser = clock.lap("load", load_denoiser, job.denoiser_model)
    attempt.check()
    volume, headers = clock.lap("read", read_source, source)
    attempt.total = len(volume)
    attempt.beat()
    # The model's guard: an input unlike its training data is said, never passed silently.
    warnings = clock.lap("guard", denoiser.check_input, volume)
    out = clock.lap("denoise", denoiser.denoise, volume, progress=attempt.progress)
    model = job.denoiser_model
    datasets = clock.lap(
        "derive",
        derived_datasets,
        headers,
        out,
        model_name=model.name,
        model_version=model.version,
        out_of_range=bool(warnings),
    )
    attempt.check()
    stored = clock.lap("store", store_datasets, datasets, attempt_folder(job, attempt.number))
    message = ""
    if warnings:
        message = f"Denoised, but outside what {model} was trained on: " + "; ".join(warnings)
    series = clock.lap("register", register_series, attempt, source, datasets, stored, message)
    # Ours is the registered series now (or, if one existed already, ours is surplus).
    keep = _registered_attempt(series)
    remove_attempt_files(job, keep=keep if keep is not None else -1)
    log.info("denoised case %s with %s: %s", job.case_id, model, clock)
    return {"job": job.pk, "series": series.pk, "instances": len(stored), "seconds": clock.laps}


def _existing_series(job: DenoiseJob) -> Series | None:
    return Series.objects.denoised(job.case, job.denoiser_model)


def _registered_attempt(series: Series) -> int | None:
    first = series.instances.first()
    if first is None:
        return None
    folder = first.file.name.rsplit("/", 2)[-2]
    return int(folder[1:]) if folder.startswith("a") and folder[1:].isdigit() else None
