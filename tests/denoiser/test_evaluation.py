import csv
import sys
import types

import numpy as np
import pytest

from denoiser import seeds
from denoiser.baselines import BASELINES, gaussian_denoise
from denoiser.cli import main
from denoiser.ctsim import make_dataset
from denoiser.evaluation.methods import LD_NAME, ND_NAME
from denoiser.evaluation.real import evaluate_real
from denoiser.evaluation.reports import COLUMNS
from denoiser.evaluation.simulated import evaluate


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    cache = tmp_path_factory.mktemp("sim")
    # Low flux gives the coarse 128x128 grid clinical-looking noise.
    return make_dataset(2, size=128, doses=(0.25,), n_views=180, cache_dir=cache, i0=1e4)


def test_evaluation_and_training_seeds_never_overlap():
    ranges = [seeds.TRAIN_SEEDS, seeds.VALIDATION_SEEDS, seeds.EVALUATION_SEEDS]
    for i, a in enumerate(ranges):
        for b in ranges[i + 1 :]:
            assert a.stop <= b.start or b.stop <= a.start
    assert seeds.split_of(seeds.seeds_for("evaluation", 1)[0]) == "evaluation"
    with pytest.raises(ValueError):
        seeds.seeds_for("validation", len(seeds.VALIDATION_SEEDS) + 1)


def test_evaluate_writes_tables_and_figures(tiny_dataset, tmp_path):
    seen = {}

    def roi_aware(hu, *, noise_roi, pixel_spacing_mm):
        seen["roi"], seen["spacing"] = noise_roi.sum(), pixel_spacing_mm
        return gaussian_denoise(
            hu, sigma_mm=2 * pixel_spacing_mm, pixel_spacing_mm=pixel_spacing_mm
        )

    methods = {"identity": lambda hu: hu.copy(), "smooth": roi_aware}
    results = evaluate(methods, tiny_dataset, tmp_path)
    assert seen["roi"] > 0 and seen["spacing"] == pytest.approx(tiny_dataset.pixel_spacing_mm)
    assert list(results) == [LD_NAME, "identity", "smooth", ND_NAME]
    ld, ident = results[LD_NAME], results["identity"]
    for key, _, _ in COLUMNS:
        if key != "seconds":
            assert ident.mean(key) == pytest.approx(ld.mean(key), nan_ok=True)
    assert results["smooth"].mean("roi_sd") < ld.mean("roi_sd")
    assert results[ND_NAME].mean("psnr") > ld.mean("psnr")
    with open(tmp_path / "results.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["method"] for r in rows] == list(results)
    assert float(rows[0]["psnr_mean"]) == pytest.approx(ld.mean("psnr"), rel=1e-5)
    assert results["smooth"].lesion_edge is not None  # NaN allowed: 2.8 mm pixels are too coarse
    with open(tmp_path / "per_slice.csv") as fh:
        assert len(list(csv.DictReader(fh))) == 4 * len(tiny_dataset)
    table = (tmp_path / "results.md").read_text()
    assert "[-160, 240] HU" in table and "W400/L50" in table and "| smooth |" in table
    for png in ("examples.png", "nps.png"):
        assert (tmp_path / png).stat().st_size > 5000


def test_main_adds_learned_models_through_denoiser(monkeypatch, tiny_dataset, tmp_path):
    loaded = []

    class FakeDenoiser:
        name, version = "fake", "0.1"

        def __init__(self, texture_share: float = 0.0) -> None:
            self.texture_share = texture_share

        @classmethod
        def load(cls, path=None, *, device=None, texture_blend=True):
            loaded.append(path)
            return cls(0.4 if path == "t.pt" and texture_blend else 0.0)

        def denoise(self, hu):
            return np.asarray(hu, np.float32) * 0.5 + 20.0

    monkeypatch.setitem(
        sys.modules, "denoiser.inference", types.SimpleNamespace(Denoiser=FakeDenoiser)
    )
    cache = tmp_path / "cache"
    args = ["--n-slices", "1", "--size", "96", "--n-views", "120", "--methods", "gaussian"]
    args += ["--cache", str(cache), "--out", str(tmp_path / "out"), "--quiet", "--no-real"]
    assert main(["evaluate", *args, "--checkpoint", "a.pt"]) == 0
    assert loaded == ["a.pt"]
    assert "| fake 0.1 |" in (tmp_path / "out" / "results.md").read_text()
    assert main(["evaluate", *args, "--no-model"]) == 0
    assert loaded == ["a.pt"]
    # A model with a texture blend is measured with and without it.
    assert main(["evaluate", *args, "--checkpoint", "t.pt"]) == 0
    assert loaded == ["a.pt", "t.pt", "t.pt"]
    assert "| fake 0.1, no texture blend |" in (tmp_path / "out" / "results.md").read_text()
    assert list(cache.glob("*.npz"))


def test_real_ct_with_inserted_noise(tmp_path):
    methods = {"smooth": lambda hu: gaussian_denoise(hu, sigma_mm=1.5)}
    rows = evaluate_real(methods, tmp_path, names=["CT_small.dcm"])
    assert list(rows) == [LD_NAME, "smooth", ND_NAME]
    ld, nd = rows[LD_NAME][0], rows[ND_NAME][0]
    assert ld["noise_est"] > 1.5 * nd["noise_est"]  # quarter dose: noticeably noisier
    assert rows["smooth"][0]["noise_est"] < ld["noise_est"]
    assert "| smooth |" in (tmp_path / "real_ct.md").read_text()
    assert (tmp_path / "real_ct.png").stat().st_size > 5000
    assert evaluate_real(methods, tmp_path, names=["no_such_file.dcm"]) is None


def test_baseline_outputs_are_cached_with_their_timing(tiny_dataset, tmp_path, monkeypatch):
    calls = []

    def counting(hu, *, pixel_spacing_mm=0.7):
        calls.append(1)
        return gaussian_denoise(hu, pixel_spacing_mm=pixel_spacing_mm)

    monkeypatch.setitem(BASELINES, "gaussian", counting)
    cache = tmp_path / "outputs"
    first = evaluate({"gaussian": counting}, tiny_dataset, tmp_path / "a", output_cache=cache)
    again = evaluate({"gaussian": counting}, tiny_dataset, tmp_path / "b", output_cache=cache)
    assert len(calls) == len(tiny_dataset)  # the second run read the cache
    assert first["gaussian"].mean("psnr") == again["gaussian"].mean("psnr")
    assert first["gaussian"].mean("seconds") == again["gaussian"].mean("seconds")
