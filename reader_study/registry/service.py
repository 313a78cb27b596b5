"""The model registry: versioned, verified denoiser checkpoints in Django storage.

A checkpoint is accepted only after `Denoiser.load` has actually loaded it, so a
wrong or corrupt file is refused at upload with the reason, never later in a job.
The shipped default (denoiser/weights/default.pt) registers itself the first
time it is needed (seed_demo, the first ingested case, or the
`register_default_model` command).
"""

from __future__ import annotations

import hashlib
import logging
import shutil
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import IO

from django.conf import settings
from django.core.files import File
from django.db import IntegrityError, transaction
from django.utils.text import slugify

from reader_study.models import DenoiserModel

log = logging.getLogger(__name__)
MAX_CHECKPOINT_BYTES = 1024 * 1024 * 1024
VERSION_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_+")


class RegistryError(ValueError):
    """A checkpoint or name the registry cannot accept; the message says what to do."""


def shipped_checkpoint() -> Path:
    from denoiser.inference import DEFAULT_CHECKPOINT

    return Path(DEFAULT_CHECKPOINT)


def sha256_of(fh: IO[bytes]) -> str:
    digest = hashlib.sha256()
    for chunk in iter(lambda: fh.read(1024 * 1024), b""):
        digest.update(chunk)
    return digest.hexdigest()


@contextmanager
def _local_copy(upload: IO[bytes]):
    """The upload as a file on disk (Denoiser.load reads paths); removed afterwards."""
    with tempfile.NamedTemporaryFile(suffix=".pt") as tmp:
        upload.seek(0)
        shutil.copyfileobj(upload, tmp)
        tmp.flush()
        yield Path(tmp.name)


def inspect_checkpoint(path: Path, label: str) -> dict:
    """Loads the checkpoint as a worker would; returns its card, config and metrics."""
    from denoiser import CheckpointError, Denoiser
    from denoiser.checkpoint import load_checkpoint_file

    try:
        payload = load_checkpoint_file(path, expected_kind="generator")
        model = Denoiser.load(path, device="cpu")
    except CheckpointError as exc:
        raise RegistryError(
            f"{label} is not a usable denoiser checkpoint: {exc.reason}. Upload a generator or "
            "training-state checkpoint written by `python -m denoiser train` or `export`."
        ) from exc
    return {
        "name": model.name,
        "version": model.version,
        "model_card": dict(model.model_card),
        "config": dict(model.config),
        "metrics": dict(payload.get("metrics") or {}),
    }


def _check_names(name: str, version: str) -> tuple[str, str]:
    slug = slugify(name)[:64]
    if not slug:
        raise RegistryError("Give the model a name (letters, digits and dashes).")
    version = (version or "").strip()
    if not version or len(version) > 32 or set(version) - VERSION_CHARS:
        raise RegistryError(
            "Give a version of up to 32 letters, digits, dots or dashes (e.g. 1.0 or 2026-11)."
        )
    if DenoiserModel.objects.filter(name=slug, version=version).exists():
        raise RegistryError(
            f"Model {slug} version {version} is already registered; choose a new version."
        )
    return slug, version


def card_text(card: dict, extra: str = "") -> str:
    """The model card as readable text for the registry page."""
    lines = [f"{key.replace('_', ' ')}: {value}" for key, value in card.items() if value != ""]
    return "\n".join(filter(None, [extra.strip(), *lines]))


def register_checkpoint(
    upload: IO[bytes],
    *,
    filename: str = "checkpoint.pt",
    name: str = "",
    version: str = "",
    created_by=None,
    make_default: bool = False,
    model_card: str = "",
    metrics: dict | None = None,
) -> DenoiserModel:
    """Verifies and stores a checkpoint as a new registry entry; raises RegistryError.

    `make_default` by someone who may not set the site-wide default raises DefaultRefused
    before anything is stored.
    """
    if make_default and not may_set_default(created_by):
        raise DefaultRefused(DEFAULT_REFUSED)
    size = getattr(upload, "size", None)
    if size is not None and size > MAX_CHECKPOINT_BYTES:
        raise RegistryError(f"{filename} is larger than {MAX_CHECKPOINT_BYTES >> 20} MB.")
    with _local_copy(upload) as path:
        info = inspect_checkpoint(path, filename)
        slug, version = _check_names(name or info["name"], version or info["version"])
        with open(path, "rb") as fh:
            digest = sha256_of(fh)
        model = DenoiserModel(
            name=slug,
            version=version,
            sha256=digest,
            config=info["config"],
            model_card=model_card or card_text(info["model_card"]),
            metrics=metrics if metrics is not None else info["metrics"],
            created_by=created_by,
        )
        try:
            with transaction.atomic(), open(path, "rb") as fh:
                model.checkpoint.save(f"{slug}-{version}.pt", File(fh), save=False)
                model.save()
        except IntegrityError as exc:
            # Storage is not transactional: remove the file the rolled-back row named.
            if model.checkpoint.name:
                model.checkpoint.storage.delete(model.checkpoint.name)
            raise RegistryError(
                f"Model {slug} version {version} was registered meanwhile; choose a new version."
            ) from exc
    # With no default at all, the first model that staff or the system registers becomes it;
    # a researcher's upload never changes what other researchers' cases are denoised with.
    first = not DenoiserModel.objects.filter(is_default=True).exists()
    if make_default or (first and may_set_default(created_by)):
        set_default(model)
    log.info("registered model %s %s (sha256 %s)", slug, version, digest[:12])
    return model


DEFAULT_REFUSED = (
    "Only staff can choose the default model: it denoises every researcher's new cases. "
    "Name your model when you start denoising jobs instead."
)


class DefaultRefused(RegistryError):
    """The caller may not change the site-wide default model."""


def may_set_default(user) -> bool:
    """The default model denoises everyone's new cases: staff choose it (None: the system)."""
    return user is None or user.is_staff or user.is_superuser


def set_default(model: DenoiserModel, by=None) -> None:
    """The model new cases are denoised with; exactly one at a time. `by` is the user asking
    (None: the system); DefaultRefused when they may not."""
    if not may_set_default(by):
        raise DefaultRefused(DEFAULT_REFUSED)
    with transaction.atomic():
        DenoiserModel.objects.filter(is_default=True).exclude(pk=model.pk).update(is_default=False)
        DenoiserModel.objects.filter(pk=model.pk).update(is_default=True)
    model.is_default = True


def register_default_model() -> DenoiserModel | None:
    """Registers the shipped weights once (same checksum: reuse); None when none are shipped."""
    path = shipped_checkpoint()
    if not path.is_file():
        log.warning("no shipped denoiser weights at %s; no default model registered", path)
        return None
    with open(path, "rb") as fh:
        digest = sha256_of(fh)
    existing = DenoiserModel.objects.filter(sha256=digest).first()
    if existing:
        return existing
    info = inspect_checkpoint(path, path.name)
    version = info["version"]
    while DenoiserModel.objects.filter(name=slugify(info["name"]), version=version).exists():
        version = f"{version}+{digest[:8]}" if "+" not in version else f"{version}0"
    try:
        with open(path, "rb") as fh:
            return register_checkpoint(
                fh,
                filename=path.name,
                name=info["name"],
                version=version,
                make_default=not DenoiserModel.objects.filter(is_default=True).exists(),
                model_card=card_text(info["model_card"], "Shipped default model."),
            )
    except RegistryError:
        # Two first cases ingested at once both register the shipped weights; the
        # loser of that race uses the winner's row.
        existing = DenoiserModel.objects.filter(sha256=digest).first()
        if existing is None:
            raise
        return existing


def default_model() -> DenoiserModel | None:
    """The default model, registering the shipped weights if nothing is registered yet."""
    model = DenoiserModel.objects.filter(is_default=True).first()
    if model is None and not DenoiserModel.objects.exists():
        model = register_default_model()
    return model


def next_version(name: str) -> str:
    """The next free whole-number version of a model name ("1", "2", ...)."""
    taken = set(DenoiserModel.objects.filter(name=name).values_list("version", flat=True))
    number = 1 + sum(1 for v in taken if v.isdigit())
    while str(number) in taken:
        number += 1
    return str(number)


def local_checkpoint(model: DenoiserModel) -> Path:
    """A path on this machine holding the model's checkpoint, verified against its checksum.

    Local storage is read in place; remote storage (S3) is copied once into a cache
    keyed by checksum. A file whose checksum changed since registration is refused.
    """
    from denoiser import CheckpointError

    try:
        path = Path(model.checkpoint.path)
    except NotImplementedError:
        path = Path(settings.VAR_DIR) / "model-cache" / f"{model.sha256}.pt"
        if not path.exists():
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(".part")
            with model.checkpoint.open("rb") as src, open(tmp, "wb") as dst:
                shutil.copyfileobj(src, dst)
            tmp.replace(path)
    if not path.exists():
        raise CheckpointError(path, "the registered checkpoint file is missing from storage")
    try:
        with open(path, "rb") as fh:
            digest = sha256_of(fh)
    except OSError as exc:
        raise CheckpointError(path, f"cannot read it ({exc})") from exc
    if digest != model.sha256:
        raise CheckpointError(path, "the file changed since it was registered (checksum differs)")
    return path
