"""Study tests keep their media in a temporary folder and never reach a broker."""

from __future__ import annotations

import pytest

from tests.jobs.conftest import fake_broker  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def world(fake_broker, researcher, reader):  # noqa: F811
    """An open study: 3 cases denoised by a tiny model, read by `reader` and one more."""
    from tests.studies.factories import denoised_cases, make_study, readers

    cases, model = denoised_cases(researcher, 3)
    other = readers(1, prefix="rhea")[0]
    study = make_study(researcher, cases, model, [reader, other])
    return {"study": study, "cases": cases, "model": model, "readers": [reader, other]}
