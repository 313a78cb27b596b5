"""CLI: denoise writes a derived series that pydicom reads back; info and export work."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pydicom
import pytest
import torch

from denoiser import checkpoint as ckpt
from denoiser.cli import main
from denoiser.dicom.read import read_series
from denoiser.dicom.write import write_series
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
    write_series(volume, tmp_path / "in", seed=1)
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
    out, _ = read_series(tmp_path / "out")
    assert out.shape == volume.shape


def test_denoise_with_a_bad_checkpoint_fails_clearly(tmp_path: Path, capsys) -> None:
    write_series(np.zeros((1, 16, 16), np.float32), tmp_path / "in", seed=2)
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


def test_export_averages_two_checkpoints_of_one_architecture(
    tmp_path: Path, tiny_checkpoint: Path, capsys
) -> None:
    torch.manual_seed(2)
    other_net = build_generator(TINY_G)
    other = ckpt.save_checkpoint(
        ckpt.make_payload("generator", TINY_G.to_dict(), other_net.state_dict()),
        tmp_path / "other.pt",
    )
    out = tmp_path / "mix.pt"
    args = ["export", str(tiny_checkpoint), str(out), "--average", str(other)]
    assert main([*args, "--average-weight", "0.25"]) == 0
    weights = {}
    for path in (tiny_checkpoint, other, out):
        _, weights[path] = ckpt.generator_weights(path, ckpt.load_checkpoint_file(path))
    for key, mixed in weights[out].items():
        expected = 0.75 * weights[tiny_checkpoint][key] + 0.25 * weights[other][key]
        assert torch.allclose(mixed, expected, atol=1e-6), key
    # Neither file's validation metrics describe the mean; the card names what it is.
    mixed_payload = ckpt.load_checkpoint_file(out)
    assert not mixed_payload.get("metrics")
    assert mixed_payload["model_card"]["averaged_from"] == {
        str(tiny_checkpoint): 0.75,
        str(other): 0.25,
    }
    # Another architecture, or a weight outside (0, 1): the reason, not a traceback.
    wide = build_generator({**TINY_G.to_dict(), "base_width": TINY_G.base_width * 2})
    wide_path = ckpt.save_checkpoint(
        ckpt.make_payload(
            "generator",
            {**TINY_G.to_dict(), "base_width": TINY_G.base_width * 2},
            wide.state_dict(),
        ),
        tmp_path / "wide.pt",
    )
    capsys.readouterr()
    assert main(["export", str(tiny_checkpoint), str(out), "--average", str(wide_path)]) == 2
    assert "wide.pt: another architecture than" in capsys.readouterr().err
    assert main([*args, "--average-weight", "1.5"]) == 2
    assert "--average-weight must be between 0 and 1" in capsys.readouterr().err
    state = other_net.state_dict()
    state.pop(next(iter(state)))
    fewer = ckpt.save_checkpoint(
        ckpt.make_payload("generator", TINY_G.to_dict(), state), tmp_path / "fewer.pt"
    )
    assert main(["export", str(tiny_checkpoint), str(out), "--average", str(fewer)]) == 2
    assert "fewer.pt: its weights do not match" in capsys.readouterr().err
    assert main(["export", str(tiny_checkpoint), str(out), "--average-weight", "0.3"]) == 2
    assert "--average-weight needs --average" in capsys.readouterr().err


def test_export_refuses_settings_the_model_could_not_load_with(
    tmp_path: Path, tiny_checkpoint: Path, capsys
) -> None:
    out = tmp_path / "bad.pt"
    for setting, reason in (
        ("self_ensemble=3", "self_ensemble must be one of"),
        ("texture_blend_share=1.5", "texture_blend_share must be 0 to 1"),
    ):
        assert main(["export", str(tiny_checkpoint), str(out), "--set", setting]) == 2
        assert reason in capsys.readouterr().err
        assert not out.exists()


def test_denoise_takes_a_self_ensemble_size(tmp_path: Path, tiny_checkpoint: Path) -> None:
    volume = np.random.default_rng(3).normal(40, 30, (2, 32, 40)).astype(np.float32)
    write_series(volume, tmp_path / "in", seed=4)
    outputs = {}
    for n in ("1", "8"):
        target = tmp_path / f"out{n}"
        common = ["--checkpoint", str(tiny_checkpoint), "--quiet", "--self-ensemble", n]
        assert main(["denoise", str(tmp_path / "in"), str(target), *common]) == 0
        outputs[n], _ = read_series(target)
    assert np.abs(outputs["8"] - outputs["1"]).max() > 0.5  # the ensemble was applied
    with pytest.raises(SystemExit):  # argparse refuses a size not offered
        main(["denoise", str(tmp_path / "in"), str(tmp_path / "x"), "--self-ensemble", "3"])


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
    assert cfg.generator.base_width == 32  # untouched keys of the table survive


def test_evaluate_is_a_command_with_its_options(monkeypatch: pytest.MonkeyPatch) -> None:
    from denoiser import cli

    defaults = cli.build_parser().parse_args(["evaluate"])
    assert defaults.out == Path("benchmarks/denoiser/results")
    assert defaults.cache == Path("var/sim-cache")
    assert (defaults.n_slices, defaults.size, defaults.dose) == (20, 512, 0.25)
    assert defaults.methods is None and defaults.checkpoint is None  # every baseline, shipped model
    seen: list = []
    monkeypatch.setattr(cli, "cmd_evaluate", lambda args: seen.append(args) or 0)
    # A separator before the options is read as if it were not there.
    argv = ["evaluate", "--", "--checkpoint", "x.pt", "--n-slices", "2", "--methods", ""]
    assert main(argv) == 0
    (args,) = seen
    assert (args.checkpoint, args.n_slices, args.methods) == (["x.pt"], 2, "")
    assert args.argv == argv  # what the report's "Reproduce" line quotes


def test_building_the_parser_imports_nothing_heavy() -> None:
    code = (
        "import sys; from denoiser.cli import build_parser; build_parser(); "
        "print(sorted(m for m in ('numpy', 'torch', 'pydicom', 'denoiser.baselines') "
        "if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"


def test_warm_start_flags_that_would_do_nothing_are_refused(tmp_path: Path) -> None:
    base = ["train", "--config", "denoiser/configs/default.toml"]
    with pytest.raises(SystemExit, match="--force-generator needs --pretrain-generator"):
        main([*base, "--force-generator"])
    with pytest.raises(SystemExit, match="needs warm_start_path"):
        main([*base, "--pretrain-generator", "--set", 'warm_start_path=""'])


def test_bad_input_and_a_missing_device_are_one_line_errors(tmp_path: Path, capsys) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["denoise", str(tmp_path / "empty"), str(tmp_path / "out"), "--quiet"]) == 2
    assert "empty: no DICOM file found" in capsys.readouterr().err
    write_series(np.zeros((1, 16, 16), np.float32), tmp_path / "in", seed=3)
    (tmp_path / "file").write_text("a file, not a folder")
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path / "file"), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and "Traceback" not in err
    assert main(["denoise", str(tmp_path / "in"), str(tmp_path), "--quiet"]) == 2
    assert "the output folder is the input folder or holds it" in capsys.readouterr().err
    if not torch.cuda.is_available():
        code = main(["denoise", str(tmp_path / "in"), str(tmp_path / "o"), "--device", "cuda"])
        assert code == 2 and "no CUDA" in capsys.readouterr().err


def _study_folder(root: Path) -> dict[str, str]:
    """A study export: two CT series, a localizer and a text report, mixed in one folder."""
    rng = np.random.default_rng(4)
    uids = {}
    for number, name in ((2, "Abdomen 3mm"), (3, "Abdomen 1mm")):
        paths = write_series(
            rng.normal(40, 30, (2, 24, 24)).astype(np.float32),
            root,
            seed=f"s{number}",
            series_number=number,
            series_description=name,
            filename_prefix=f"S{number}_",
        )
        uids[name] = str(pydicom.dcmread(paths[0]).SeriesInstanceUID)
    scout = write_series(
        np.zeros((1, 24, 32), np.float32),
        root,
        seed="scout",
        series_number=1,
        series_description="Topogram",
        filename_prefix="S1_",
    )[0]
    ds = pydicom.dcmread(scout)
    ds.ImageType = ["ORIGINAL", "PRIMARY", "LOCALIZER"]
    ds.save_as(scout)
    report = pydicom.Dataset()
    report.SOPClassUID = "1.2.840.10008.5.1.4.1.1.88.11"  # Basic Text SR
    report.SOPInstanceUID = pydicom.uid.generate_uid()
    report.SeriesInstanceUID = pydicom.uid.generate_uid()
    report.Modality, report.SeriesNumber = "SR", 99
    report.file_meta = pydicom.dataset.FileMetaDataset()
    report.file_meta.TransferSyntaxUID = pydicom.uid.ExplicitVRLittleEndian
    report.file_meta.MediaStorageSOPClassUID = report.SOPClassUID
    report.file_meta.MediaStorageSOPInstanceUID = report.SOPInstanceUID
    pydicom.dcmwrite(root / "report", report, enforce_file_format=True)
    return uids


def test_a_study_folder_gives_one_derived_series_per_ct_series(
    tmp_path: Path, tiny_checkpoint: Path, capsys
) -> None:
    uids = _study_folder(tmp_path / "study")
    args = ["denoise", str(tmp_path / "study"), str(tmp_path / "out"), "--quiet"]
    assert main([*args, "--checkpoint", str(tiny_checkpoint)]) == 0
    printed = capsys.readouterr().out
    assert "skipped series 1 'Topogram' (1 files, UID" in printed
    assert "a localizer (scout)" in printed and "modality SR, not CT" in printed
    folders = sorted(p.name for p in (tmp_path / "out").iterdir())
    assert [f.split("_")[0] for f in folders] == ["2", "3"]
    for folder in folders:
        _, headers = read_series(tmp_path / "out" / folder)
        source = headers[0].ReferencedSeriesSequence[0].SeriesInstanceUID
        assert source == uids["Abdomen 3mm" if folder.startswith("2") else "Abdomen 1mm"]
    # --series picks one, written straight into OUT_DIR; an unknown UID lists what is there.
    one = [*args[:2], str(tmp_path / "one"), "--quiet", "--checkpoint", str(tiny_checkpoint)]
    assert main([*one, "--series", uids["Abdomen 1mm"]]) == 0
    assert len(list((tmp_path / "one").glob("*.dcm"))) == 2
    assert main([*one, "--series", "1.2.3"]) == 2
    assert "no series 1.2.3 here; found: series 1 'Topogram'" in capsys.readouterr().err


def test_an_input_outside_the_trained_range_is_flagged(tmp_path: Path, capsys) -> None:
    """The input guard: a model trained on 5-15 HU of noise warns on 120 HU, on the
    console and in the derived series' description; an in-range input is not flagged."""
    net = build_generator(TINY_G)
    card = {
        "name": "guarded",
        "version": "1",
        "input_range": {"noise_sd_hu": [5.0, 15.0], "sharpness": [0.0, 1.0]},
    }
    payload = ckpt.make_payload("generator", TINY_G.to_dict(), net.state_dict(), model_card=card)
    model = ckpt.save_checkpoint(payload, tmp_path / "guarded.pt")
    rng = np.random.default_rng(0)
    for name, sd in (("loud", 120.0), ("quiet", 10.0)):
        write_series(rng.normal(40, sd, (2, 64, 64)).astype(np.float32), tmp_path / name, seed=2)
        out = tmp_path / f"{name}-out"
        assert main(["denoise", str(tmp_path / name), str(out), "--checkpoint", str(model)]) == 0
        err = capsys.readouterr().err
        description = pydicom.dcmread(next(out.glob("*.dcm"))).SeriesDescription
        if name == "loud":
            assert "above the trained range" in err and "OUT OF TRAINING RANGE" in description
        else:
            assert "warning" not in err and "OUT OF TRAINING RANGE" not in description
