"""Hostile-input and access fault classes: each test failed before its fix."""

from __future__ import annotations

import sys
from pathlib import Path

import pydicom
import pytest
from pydicom.dataset import Dataset
from rest_framework.test import APIClient

from tests.ingest.dicom_files import dataset_bytes, write_ct_series
from tests.jobs.conftest import fake_broker  # noqa: F401  (a fixture)


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def api(researcher) -> APIClient:
    client = APIClient()
    client.force_authenticate(researcher)
    return client


def nested_ct(out: Path, depth: int, seed: int = 0) -> bytes:
    """A valid small CT slice whose ReferencedImageSequence nests `depth` levels deep."""
    path = write_ct_series(out / f"nest-{depth}-{seed}", slices=1, size=32, seed=seed)[0]
    ds = pydicom.dcmread(path)
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    for _ in range(depth - 1):
        outer = Dataset()
        outer.ReferencedImageSequence = [item]
        item = outer
    ds.ReferencedImageSequence = [item]
    # Writing the hostile file needs the recursion that reading it must never be given.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * depth + 1000))
    try:
        return dataset_bytes(ds)
    finally:
        sys.setrecursionlimit(limit)
