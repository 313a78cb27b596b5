"""The registry: the shipped default registers itself once; stored files are checked."""

from __future__ import annotations

import pytest

from denoiser import CheckpointError
from reader_study.jobs.launch import denoise_ready_cases
from reader_study.models import DenoiseJob, DenoiserModel
from reader_study.registry import service as registry
from tests.jobs.factories import ingest_case, register_tiny, tiny_checkpoint_bytes

pytestmark = pytest.mark.django_db


@pytest.fixture
def shipped(tmp_path, monkeypatch):
    path = tmp_path / "default.pt"
    monkeypatch.setattr(registry, "shipped_checkpoint", lambda: path)
    return path


def test_shipped_default_registers_once_and_denoises_demo_cases(
    shipped, fake_broker, researcher, django_capture_on_commit_callbacks
):
    assert registry.register_default_model() is None  # nothing shipped yet
    case = ingest_case(researcher, "before-any-model")  # case_ready finds no model
    assert not DenoiseJob.objects.exists()

    shipped.write_bytes(tiny_checkpoint_bytes("ldct-shipped", "1.0"))
    model = registry.register_default_model()
    assert (model.name, model.version, model.is_default) == ("ldct-shipped", "1.0", True)
    assert "Shipped default model." in model.model_card
    assert registry.register_default_model() == model  # same checksum: no second entry
    with django_capture_on_commit_callbacks(execute=True):
        denoise_ready_cases(researcher, model)
    assert DenoiseJob.objects.get().case == case
    assert denoise_ready_cases(researcher, model) == []


def test_first_ready_case_registers_the_shipped_model(shipped, fake_broker, researcher):
    shipped.write_bytes(tiny_checkpoint_bytes("ldct-shipped", "1.0"))
    case = ingest_case(researcher, "first")
    assert case.denoise_jobs.get().denoiser_model.name == "ldct-shipped"


def test_a_changed_file_is_refused_before_loading(fake_broker):
    model = register_tiny()
    assert registry.local_checkpoint(model).is_file()
    with open(model.checkpoint.path, "ab") as fh:
        fh.write(b"tampered")
    with pytest.raises(CheckpointError, match="changed since it was registered"):
        registry.local_checkpoint(model)


def test_names_and_versions_are_checked(fake_broker):
    from django.core.files.base import ContentFile

    register_tiny("m", "1")
    data = ContentFile(tiny_checkpoint_bytes("m", "1"))
    with pytest.raises(registry.RegistryError, match="already registered"):
        registry.register_checkpoint(data)
    with pytest.raises(registry.RegistryError, match="version of up to 32"):
        registry.register_checkpoint(data, version="bad version!")
    assert registry.next_version("m") == "2"
    assert DenoiserModel.objects.count() == 1


def test_losing_a_race_to_register_the_shipped_model_reuses_the_winner(shipped, monkeypatch):
    """Two first cases at once: the second registration finds the row the first just wrote."""
    from django.core.files.storage import default_storage

    shipped.write_bytes(tiny_checkpoint_bytes("ldct-shipped", "1.0"))
    real_register = registry.register_checkpoint
    winner = {}

    def register_after_a_concurrent_winner(upload, **kwargs):
        # The other process commits the same weights between our check and our insert.
        with open(shipped, "rb") as fh:
            winner["model"] = real_register(fh, filename="default.pt", name="ldct-shipped")
        return real_register(upload, **kwargs)

    def stored_files() -> set[str]:
        folder = "models/ldct-shipped/1.0"
        return set(default_storage.listdir(folder)[1]) if default_storage.exists(folder) else set()

    before = stored_files()
    monkeypatch.setattr(registry, "register_checkpoint", register_after_a_concurrent_winner)
    model = registry.register_default_model()
    assert model == winner["model"]
    assert DenoiserModel.objects.count() == 1
    # Only the winner's file was added: the loser removed the file it had stored.
    assert stored_files() - before == {model.checkpoint.name.rsplit("/", 1)[1]}
