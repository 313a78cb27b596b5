"""Synthetic CT cases and tiny checkpoints for the job tests (seconds on 2 cores)."""

from __future__ import annotations

import io
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from django.core.files.base import ContentFile
from django.db import transaction

from denoiser import checkpoint as ckpt
from denoiser.dicom.write import write_series
from denoiser.networks import build_generator
from reader_study.models import Case, DenoiseJob, DenoiserModel, Instance, JobState, Series
from reader_study.registry import service as registry
from reader_study.signals import case_ready
from tests.denoiser.tiny import TINY_G

SLICES, SIZE = 8, 64
USE_INGEST = True


def phantom_volume(seed: int = 0, noise_hu: float = 40.0, slices: int = SLICES, size: int = SIZE):
    """A noisy body-like disk per slice; air outside is exactly -1000 HU (no noise there)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size] - (size - 1) / 2
    body = np.hypot(yy, xx) < size * 0.4
    volume = np.where(body, 40.0, -1000.0)[None].repeat(slices, 0)
    volume[:, size // 3 : size // 2, size // 3 : size // 2] = 100.0
    volume = volume + np.where(body, rng.normal(0, noise_hu, volume.shape), 0.0)
    return volume.astype(np.float32), body


def tiny_checkpoint_bytes(name: str = "tiny", version: str = "1", seed: int = 5) -> bytes:
    torch.manual_seed(seed)
    net = build_generator(TINY_G)
    torch.nn.init.normal_(net.head.weight, std=0.05)  # so the output differs from the input
    payload = ckpt.make_payload(
        "generator",
        TINY_G.to_dict(),
        net.state_dict(),
        model_card={"name": name, "version": version, "intended_use": "tests"},
    )
    buffer = io.BytesIO()
    torch.save(payload, buffer)
    return buffer.getvalue()


def register_tiny(name: str = "tiny", version: str = "1", default: bool = True) -> DenoiserModel:
    data = ContentFile(tiny_checkpoint_bytes(name, version), name=f"{name}.pt")
    return registry.register_checkpoint(data, filename=f"{name}.pt", make_default=default)


def register_broken(name: str = "broken") -> DenoiserModel:
    """A registry entry whose stored file is garbage (as if damaged after upload)."""
    junk = b"this is not a checkpoint" * 10
    model = DenoiserModel(name=name, version="1", sha256=registry.sha256_of(io.BytesIO(junk)))
    model.checkpoint.save(f"{name}.pt", ContentFile(junk), save=False)
    model.save()
    return model


def _write_files(volume: np.ndarray, seed: int) -> list[Path]:
    folder = Path(tempfile.mkdtemp(prefix="ldct-case-"))
    return write_series(volume, folder, pixel_spacing=1.5, slice_thickness=2.5, seed=seed)


def ingest_case(owner, label: str, seed: int = 0, noise_hu: float = 40.0) -> Case:
    """A synthetic series stored as a ready case; case_ready is sent inside the transaction.

    USE_INGEST switches to the real ingest entry point (reader_study.ingest.service.ingest)
    once it is committed; until then the series is stored the way ingest stores it.
    """
    volume, _ = phantom_volume(seed, noise_hu)
    paths = _write_files(volume, seed)
    if not USE_INGEST:
        return _store_case(owner, label, paths)
    from reader_study.ingest.report import SourceFile
    from reader_study.ingest.service import ingest

    sources = [SourceFile(name=p.name, path=p, size=p.stat().st_size) for p in paths]
    ingest(owner=owner, label=label, sources=sources)
    return Case.objects.filter(owner=owner).order_by("-pk").first()


def _store_case(owner, label: str, paths: list[Path]) -> Case:
    import pydicom

    first = pydicom.dcmread(paths[0], stop_before_pixels=True)
    with transaction.atomic():
        case = Case.objects.create(
            owner=owner,
            label=label,
            study_instance_uid=str(first.StudyInstanceUID),
            status=Case.Status.READY,
        )
        series = Series.objects.create(
            case=case,
            kind=Series.Kind.ORIGINAL,
            series_instance_uid=str(first.SeriesInstanceUID),
            rows=first.Rows,
            columns=first.Columns,
            num_instances=len(paths),
        )
        for path in paths:
            ds = pydicom.dcmread(path, stop_before_pixels=True)
            data = path.read_bytes()
            instance = Instance(
                series=series,
                sop_instance_uid=str(ds.SOPInstanceUID),
                sop_class_uid=str(ds.SOPClassUID),
                transfer_syntax_uid=str(ds.file_meta.TransferSyntaxUID),
                instance_number=int(ds.InstanceNumber),
                slice_position=float(ds.ImagePositionPatient[2]),
                size_bytes=len(data),
                sha256=registry.sha256_of(io.BytesIO(data)),
            )
            instance.file.save(path.name, ContentFile(data), save=False)
            instance.save()
        case_ready.send(sender=Case, case=case)
    return case


TERMINAL = (JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED)


def wait_for(model, pk: int, states=TERMINAL, timeout: float = 180, workers=()) -> object:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        job = model.objects.get(pk=pk)
        if job.state in states:
            return job
        time.sleep(0.3)
    logs = "\n".join(w.log()[-4000:] for w in workers)
    raise AssertionError(f"{model.__name__} {pk} still {job.state}: {job.message}\n{logs}")


def wait_until(predicate, timeout: float = 120, what: str = "condition", workers=()) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    logs = "\n".join(w.log()[-4000:] for w in workers)
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def denoised_series(case: Case, model: DenoiserModel):
    return Series.objects.filter(case=case, kind=Series.Kind.DENOISED, denoiser_model=model)


def job_for(case: Case, model: DenoiserModel) -> DenoiseJob:
    return DenoiseJob.objects.get(case=case, denoiser_model=model)
