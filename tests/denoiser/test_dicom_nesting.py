"""A CT file whose sequences nest deeper than real CT does is refused when it is read, before
any header is copied or written (pydicom's writer formats a traceback per level: unbounded)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset

from denoiser.cli import main
from denoiser.dicom.read import DicomReadError, find_series, read_series
from denoiser.dicom.standard import MAX_SEQUENCE_DEPTH, NestingTooDeep, check_nesting
from denoiser.dicom.write import write_series

pytestmark = pytest.mark.security
HOSTILE_DEPTHS = [17, 100, 500]
REASON = "sequences nested more than 16 levels deep"


def nest(ds: Dataset, depth: int) -> Dataset:
    """``ds`` with a ReferencedImageSequence whose items nest ``depth`` levels deep."""
    item = Dataset()
    item.ReferencedSOPClassUID = ds.SOPClassUID
    item.ReferencedSOPInstanceUID = ds.SOPInstanceUID
    for _ in range(depth - 1):
        outer = Dataset()
        outer.ReferencedImageSequence = [item]
        item = outer
    ds.ReferencedImageSequence = [item]
    return ds


def nested_ct(folder: Path, depth: int) -> Path:
    """A valid small CT slice, alone in ``folder``, nested ``depth`` levels deep."""
    path = write_series(np.zeros((1, 16, 16), np.float32), folder, seed=f"nest-{depth}")[0]
    ds = nest(pydicom.dcmread(path), depth)
    # Writing the hostile file needs the recursion that reading it must never be given.
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(limit, 20 * depth + 1000))
    try:
        ds.save_as(path, enforce_file_format=True)
    finally:
        sys.setrecursionlimit(limit)
    return path


def test_check_nesting_at_the_boundary() -> None:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID = pydicom.uid.CTImageStorage, "1.2.3"
    check_nesting(nest(ds, MAX_SEQUENCE_DEPTH))
    with pytest.raises(NestingTooDeep, match=REASON):
        check_nesting(nest(ds, MAX_SEQUENCE_DEPTH + 1))
    check_nesting(nest(ds, 2), max_depth=2)
    with pytest.raises(NestingTooDeep, match="nested more than 2 levels deep"):
        check_nesting(nest(ds, 3), max_depth=2)


def test_real_nesting_depth_reads(tmp_path: Path) -> None:
    path = nested_ct(tmp_path / "in", MAX_SEQUENCE_DEPTH)
    check_nesting(pydicom.dcmread(path))
    volume, headers = read_series(tmp_path / "in")
    assert volume.shape == (1, 16, 16) and "ReferencedImageSequence" in headers[0]
    assert [len(group.files) for group in find_series(tmp_path / "in")] == [1]


@pytest.mark.parametrize("depth", HOSTILE_DEPTHS)
def test_read_series_names_the_file_and_the_reason(depth: int, tmp_path: Path) -> None:
    path = nested_ct(tmp_path / "in", depth)
    with pytest.raises(DicomReadError, match=rf"^{path.name}: {REASON}"):
        read_series(path)
    with pytest.raises(DicomReadError, match=REASON):
        find_series(tmp_path / "in")


@pytest.mark.parametrize("depth", HOSTILE_DEPTHS)
def test_denoise_refuses_before_any_inference(
    depth: int, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    from denoiser.inference import Denoiser

    def no_model(*args, **kwargs):
        raise AssertionError("a model was loaded for a file that is refused")

    monkeypatch.setattr(Denoiser, "load", no_model)
    path = nested_ct(tmp_path / "in", depth)
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {path.name}: {REASON}") and err.count("\n") == 1
    assert not list(tmp_path.glob("out/**/*.dcm"))


def test_python_m_denoiser_exits_2_with_one_line(tmp_path: Path) -> None:
    path = nested_ct(tmp_path / "in", 500)
    done = subprocess.run(
        [sys.executable, "-m", "denoiser", "denoise", str(path), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=Path(__file__).parents[2],
    )
    assert done.returncode == 2, done.stderr[-2000:]
    assert done.stderr.startswith(f"error: {path.name}: {REASON}")
    assert done.stderr.count("\n") == 1
