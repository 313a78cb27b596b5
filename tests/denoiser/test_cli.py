"""CLI: denoise writes a derived series that pydicom reads back; info and export work."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from denoiser import checkpoint as ckpt
from denoiser import dicom_io
from denoiser.cli import main
from denoiser.networks import build_generator
from tests.denoiser.tiny import TINY_G


@pytest.fixture
def tiny_checkpoint(tmp_path: Path) -> Path:
    torch.manual_seed(1)
    net = build_generator(TINY_G)
    torch.nn.init.normal_(net.head.weight, std=0.02)
    card = {"name": "tiny-test", "version": "0.0.1", "intended_use": "research use only"}
    payload = ckpt.make_payload("generator", TINY_G.to_dict(), net.state_dict(), model_card=card)
    return ckpt.save_checkpoint(payload, tmp_path / "tiny.pt")


def test_denoise_writes_a_derived_series(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    rng = np.random.default_rng(0)
    volume = rng.normal(40, 30, (3, 40, 48)).astype(np.float32)
    dicom_io.write_series(volume, tmp_path / "in", seed=1)
    code = main(
        [
            "denoise",
            str(tmp_path / "in"),
            str(tmp_path / "out"),
            "--checkpoint",
            str(tiny_checkpoint),
            "--quiet",
        ]
    )
    assert code == 0 and "wrote 3 slices" in capsys.readouterr().out
    files = sorted((tmp_path / "out").glob("*.dcm"))
    assert len(files) == 3
    ds = pydicom.dcmread(files[0])
    assert list(ds.ImageType)[:2] == ["DERIVED", "SECONDARY"]
    assert "tiny-test" in ds.SeriesDescription
    src = pydicom.dcmread(sorted((tmp_path / "in").glob("*.dcm"))[0])
    assert ds.SeriesInstanceUID != src.SeriesInstanceUID
    assert ds.StudyInstanceUID == src.StudyInstanceUID
    assert (ds.Rows, ds.Columns) == (40, 48)
    out, _ = dicom_io.read_series(tmp_path / "out")
    assert out.shape == volume.shape


def test_denoise_with_a_bad_checkpoint_fails_clearly(tmp_path: Path, capsys) -> None:
    dicom_io.write_series(np.zeros((1, 16, 16), np.float32), tmp_path / "in", seed=2)
    bad = tmp_path / "bad.pt"
    bad.write_bytes(b"garbage")
    code = main(["denoise", str(tmp_path / "in"), str(tmp_path / "out"), "--checkpoint", str(bad)])
    assert code == 2
    assert "bad.pt: corrupt" in capsys.readouterr().err


def test_info_and_export(tmp_path: Path, tiny_checkpoint: Path, capsys) -> None:
    assert main(["info", str(tiny_checkpoint)]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["model_card"]["name"] == "tiny-test" and info["kind"] == "generator"
    out = tmp_path / "half.pt"
    assert main(["export", str(tiny_checkpoint), str(out), "--half"]) == 0
    assert out.stat().st_size < tiny_checkpoint.stat().st_size


def test_config_overrides_keep_types(tmp_path: Path) -> None:
    from denoiser.cli import _config, build_parser

    args = build_parser().parse_args(
        [
            "train",
            "--config",
            "denoiser/configs/default.toml",
            "--set",
            "epochs=3",
            "--set",
            "generator.fusion='concat'",
            "--set",
            "amp=false",
        ]
    )
    cfg = _config(args)
    assert cfg.epochs == 3 and cfg.generator.fusion == "concat" and cfg.amp is False
    assert cfg.generator.base_width == 24  # untouched keys of the table survive


def test_evaluate_is_delegated_with_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from denoiser import evaluate

    seen: list[list[str]] = []
    monkeypatch.setattr(evaluate, "main", lambda argv: seen.append(list(argv)) or 0)
    assert main(["evaluate", "--checkpoint", "x.pt", "--n-slices", "2"]) == 0
    assert seen == [["--checkpoint", "x.pt", "--n-slices", "2"]]


def test_warm_start_flags_that_would_do_nothing_are_refused(tmp_path: Path) -> None:
    base = ["train", "--config", "denoiser/configs/default.toml"]
    with pytest.raises(SystemExit, match="--force-generator needs --pretrain-generator"):
        main([*base, "--force-generator"])
    with pytest.raises(SystemExit, match="needs warm_start_path"):
        main([*base, "--pretrain-generator", "--set", 'warm_start_path=""'])


def test_bad_input_and_a_missing_device_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["denoise", str(tmp_path / "empty"), str(tmp_path / "out"), "--quiet"]) == 2
    assert "no DICOM image" in capsys.readouterr().err
    dicom_io.write_series(np.zeros((1, 16, 16), np.float32), tmp_path / "in", seed=3)
    (tmp_path / "file").write_text("a file, not a folder")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "file"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    if not torch.cuda.is_available():
        code = main(["denoise", str(tmp_path / "in"), str(tmp_path / "o"), "--device", "cuda"])
        assert code == 2 and "no CUDA" in capsys.readouterr().err
