"""The reader-study statistics against references computed here, by hand or by scipy."""

from __future__ import annotations

import json
import math

import krippendorff
import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm
from scipy import stats

from reader_study.studies.analysis import plots, statistics

pytestmark = pytest.mark.study

# Shrout & Fleiss (1979), Table 2: 6 targets rated by 4 judges.
SHROUT_FLEISS = np.array(
    [[9, 2, 5, 8], [6, 1, 3, 2], [8, 4, 6, 8], [7, 1, 2, 6], [10, 5, 6, 9], [6, 2, 4, 7]]
)
# Krippendorff (2011), "Computing Krippendorff's alpha-reliability", example C: 4 observers,
# 12 units, missing values; published ordinal alpha 0.815.
KRIPPENDORFF = np.array(
    [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, np.nan, np.nan, np.nan],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, np.nan, 3],
        [np.nan, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, np.nan],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, np.nan],
    ]
)


def table(scores, criterion="noise", session=1, preference=""):
    """A tidy export from (reader, case, condition, value) tuples."""
    return pd.DataFrame(
        [
            {
                "reader": reader,
                "session": session,
                "case": case,
                "side": "A" if condition == "original" else "B",
                "condition": condition,
                "criterion": criterion,
                "value": value,
                "preference": preference,
            }
            for reader, case, condition, value in scores
        ]
    )


def simulated(readers=3, cases=12, effect=1.0, seed=0):
    """Absolute scores where the denoised images tend to score higher."""
    rng = np.random.default_rng(seed)
    scores = []
    for c in range(cases):
        case_effect = rng.normal()
        for r in range(readers):
            for condition in ("original", "denoised"):
                latent = case_effect + effect * (condition == "denoised") + rng.logistic()
                value = int(np.clip(np.round(latent + 3), 1, 5))
                scores.append((f"r{r}", f"c{c:02d}", condition, value))
    return table(scores)


def test_describe_counts_and_quartiles():
    df = table([("r1", f"c{i}", "original", v) for i, v in enumerate([1, 2, 2, 3, 5])])
    groups = statistics.describe(df)["noise"]["groups"]
    original = groups[0]
    assert original["label"] == "original"
    assert original["counts"] == [1, 2, 1, 0, 1]
    assert original["readers"] == [{"reader": "r1", "n": 5, "counts": [1, 2, 1, 0, 1]}]
    assert original["mean"] == pytest.approx(2.6)
    assert (original["q1"], original["median"], original["q3"]) == (2, 2, 3)
    assert groups[1]["n"] == 0 and groups[1]["mean"] is None


def test_wilcoxon_on_case_medians_matches_scipy():
    df = simulated(readers=3, cases=15)
    result = statistics.wilcoxon_paired(df, "noise")
    medians = {
        condition: [
            np.median(df[(df.case == c) & (df.condition == condition)].value)
            for c in sorted(df.case.unique())
        ]
        for condition in ("original", "denoised")
    }
    reference = stats.wilcoxon(medians["denoised"], medians["original"])
    assert result["statistic"] == pytest.approx(reference.statistic)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert result["n"] == 15


def test_rank_biserial_by_hand():
    # Differences 1, 2, -1, 3, 0: the zero drops; |d| ranks 1.5, 3, 1.5, 4.
    # R+ = 1.5 + 3 + 4 = 8.5, R- = 1.5, r = (8.5 - 1.5) / 10 = 0.7.
    pairs = [(1, 2), (2, 4), (3, 2), (1, 4), (3, 3)]
    scores = [("r1", f"c{i}", "original", a) for i, (a, _) in enumerate(pairs)]
    scores += [("r1", f"c{i}", "denoised", b) for i, (_, b) in enumerate(pairs)]
    result = statistics.wilcoxon_paired(table(scores), "noise")
    assert result["effect_size"] == pytest.approx(0.7)
    assert (result["n"], result["n_nonzero"]) == (5, 4)
    assert result["p"] == pytest.approx(stats.wilcoxon([1, 2, -1, 3, 0]).pvalue)
    assert "fewer than 6" in result["note"]


def test_relative_scores_are_oriented_to_the_test_condition():
    # value is B against A; the row's condition is the one shown as B.
    rows = [("r1", "c1", "denoised", 2), ("r1", "c2", "original", -1), ("r1", "c3", "denoised", 1)]
    rows += [("r1", "c4", "original", 1), ("r1", "c5", "denoised", 2), ("r1", "c6", "original", -2)]
    df = table(rows).assign(side="B")
    assert statistics.scale_of(df) == "relative"
    oriented = [2, 1, 1, -1, 2, 2]
    result = statistics.wilcoxon_paired(df, "noise")
    assert result["statistic"] == pytest.approx(stats.wilcoxon(oriented).statistic)
    assert result["p"] == pytest.approx(stats.wilcoxon(oriented).pvalue)
    summary = statistics.describe_criterion(df, "noise")
    assert summary["levels"] == [-2, -1, 0, 1, 2]
    assert summary["groups"][0]["counts"] == [0, 1, 0, 2, 3]
    assert "absolute" in statistics.vgc(df, "noise")["note"]
    assert statistics.vgr(df, "noise")["odds_ratio"] is None


def test_vgc_worked_by_hand():
    # a = 1, 2, 3 and b = 2, 3, 3. Pairs (b, a): 2 beats 1, ties 2, loses to 3 -> 1.5;
    # each 3 beats 1 and 2, ties 3 -> 2.5; U = 1.5 + 2.5 + 2.5 = 6.5 of 9 pairs.
    scores = [("r1", f"c{i}", "original", v) for i, v in enumerate([1, 2, 3])]
    scores += [("r1", f"c{i}", "denoised", v) for i, v in enumerate([2, 3, 3])]
    result = statistics.vgc(table(scores), "noise", bootstrap=0)
    assert result["auc"] == pytest.approx(6.5 / 9)
    # Thresholds 3, 2, 1: P(a >= t) = 1/3, 2/3, 1 and P(b >= t) = 2/3, 1, 1.
    expected = [[0, 0], [1 / 3, 2 / 3], [2 / 3, 1], [1, 1]]
    assert np.allclose(result["points"], expected)
    x, y = np.array(result["points"]).T
    area = sum((x[i + 1] - x[i]) * (y[i + 1] + y[i]) / 2 for i in range(len(x) - 1))
    assert area == pytest.approx(6.5 / 9)


def test_vgc_auc_is_the_mean_of_readers_mann_whitney():
    df = simulated(readers=3, cases=10, seed=4)
    result = statistics.vgc(df, "noise", bootstrap=0)
    per_reader = []
    for reader in ("r0", "r1", "r2"):
        rows = df[df.reader == reader]
        b, a = rows[rows.condition == "denoised"].value, rows[rows.condition == "original"].value
        per_reader.append(stats.mannwhitneyu(b, a).statistic / (len(a) * len(b)))
    assert [r["auc"] for r in result["readers"]] == pytest.approx(per_reader)
    assert result["auc"] == pytest.approx(np.mean(per_reader))


def test_vgc_bootstrap_is_seeded_and_brackets_the_estimate():
    df = simulated(readers=3, cases=12, seed=1)
    first = statistics.vgc(df, "noise", bootstrap=200, seed=7)
    again = statistics.vgc(df, "noise", bootstrap=200, seed=7)
    assert first == again
    for key in ("ci_fixed_readers", "ci_random_readers"):
        low, high = first[key]
        assert low <= first["auc"] <= high


def test_vgc_interval_collapses_when_every_case_is_alike():
    # Resampling identical cases cannot change the AUC: the fixed-reader interval is a point.
    scores = [
        (r, f"c{i}", c, v)
        for r in ("r1", "r2")
        for i in range(5)
        for c, v in (("original", 2), ("denoised", 4))
    ]
    result = statistics.vgc(table(scores), "noise", bootstrap=50)
    assert result["auc"] == 1.0
    assert result["ci_fixed_readers"] == [1.0, 1.0]


def test_icc_shrout_fleiss_example():
    icc2 = statistics.icc(SHROUT_FLEISS, "2,1")
    icc3 = statistics.icc(SHROUT_FLEISS, "3,1")
    assert round(icc2["value"], 2) == 0.29
    assert round(icc3["value"], 2) == 0.71
    # McGraw & Wong (1996) intervals for these data.
    assert [round(x, 2) for x in icc2["ci"]] == [0.02, 0.76]
    assert [round(x, 2) for x in icc3["ci"]] == [0.34, 0.95]


def test_inter_reader_on_shrout_fleiss_and_krippendorff_examples():
    scores = [
        (f"j{j}", f"t{t}", "original", int(SHROUT_FLEISS[t, j])) for t in range(6) for j in range(4)
    ]
    result = statistics.inter_reader(table(scores), "noise", bootstrap=0)
    assert result["icc"]["value"] == pytest.approx(0.2898, abs=1e-4)
    assert len(result["kappa"]) == 6

    scores = [
        (f"o{o}", f"u{u:02d}", "original", int(KRIPPENDORFF[o, u]))
        for o in range(4)
        for u in range(12)
        if not np.isnan(KRIPPENDORFF[o, u])
    ]
    result = statistics.inter_reader(table(scores), "noise", bootstrap=100, seed=3)
    assert round(result["alpha"]["value"], 3) == 0.815
    package = krippendorff.alpha(reliability_data=KRIPPENDORFF, level_of_measurement="ordinal")
    assert result["alpha"]["value"] == pytest.approx(package)
    low, high = result["alpha"]["ci"]
    assert low <= result["alpha"]["value"] <= high


def weighted_kappa_by_hand(x, y, levels):
    """Quadratic-weighted kappa: 1 - sum(w * observed) / sum(w * expected), w = (i - j)^2."""
    k = len(levels)
    observed = np.zeros((k, k))
    for i, j in zip(x, y, strict=True):
        observed[levels.index(i), levels.index(j)] += 1
    expected = np.outer(observed.sum(1), observed.sum(0)) / observed.sum()
    weights = np.subtract.outer(np.arange(k), np.arange(k)) ** 2
    return 1 - (weights * observed).sum() / (weights * expected).sum()


def test_pairwise_kappa_matches_the_formula():
    first = [1, 2, 3, 4, 5, 3, 2, 4]
    second = [1, 3, 3, 5, 4, 3, 1, 4]
    scores = [("r1", f"c{i}", "original", v) for i, v in enumerate(first)]
    scores += [("r2", f"c{i}", "original", v) for i, v in enumerate(second)]
    result = statistics.inter_reader(table(scores), "noise", bootstrap=0)
    expected = weighted_kappa_by_hand(first, second, [1, 2, 3, 4, 5])
    assert result["kappa"][0]["value"] == pytest.approx(expected)
    assert result["kappa"][0]["readers"] == ["r1", "r2"]


def test_intra_reader_kappa_and_icc3_from_two_sessions():
    first = [1, 2, 3, 4, 5, 2, 3]
    second = [2, 2, 3, 5, 5, 1, 3]
    df = pd.concat(
        [
            table([("r1", f"c{i}", "original", v) for i, v in enumerate(first)], session=1),
            table([("r1", f"c{i}", "original", v) for i, v in enumerate(second)], session=2),
        ]
    )
    (reader,) = statistics.intra_reader(df, "noise")["readers"]
    assert reader["n"] == 7
    assert reader["kappa"] == pytest.approx(weighted_kappa_by_hand(first, second, [1, 2, 3, 4, 5]))
    # ICC(3,1) of two sessions: (MSR - MSE) / (MSR + MSE) from the two-way ANOVA.
    x = np.column_stack([first, second]).astype(float)
    n = len(x)
    rows, cols = x.mean(1), x.mean(0)
    msr = 2 * ((rows - x.mean()) ** 2).sum() / (n - 1)
    mse = ((x - rows[:, None] - cols[None, :] + x.mean()) ** 2).sum() / (n - 1)
    assert reader["icc"] == pytest.approx((msr - mse) / (msr + mse))


def test_session_two_does_not_count_in_the_main_analysis():
    df = simulated(readers=2, cases=8)
    repeated = df[df.case < "c04"].assign(session=2, value=1)
    assert statistics.wilcoxon_paired(pd.concat([df, repeated]), "noise") == (
        statistics.wilcoxon_paired(df, "noise")
    )
    assert statistics.intra_reader(df, "noise")["note"].startswith("no repeated")


def test_preference_counts_presentations_and_matches_binomtest():
    prefs = ["denoised"] * 9 + ["original"] * 2 + ["none"] * 3 + [""]
    frames = [
        table([("r1", f"c{i}", "original", 3), ("r1", f"c{i}", "denoised", 4)], preference=p)
        for i, p in enumerate(prefs)
    ]
    result = statistics.preference(pd.concat(frames))
    assert result["counts"] == {"test": 9, "reference": 2, "none": 3, "unanswered": 1}
    assert result["n_presentations"] == 15
    reference = stats.binomtest(9, 11, 0.5)
    assert result["p"] == pytest.approx(reference.pvalue)
    assert result["proportion_test"] == pytest.approx(9 / 11)


def test_a_preference_given_without_scores_counts_but_adds_no_score():
    """The export's row for an answer without any score (empty score columns) counts in the
    preference, and in nothing that reads scores."""
    scored = table(
        [("r1", "c1", "original", 3), ("r1", "c1", "denoised", 4)], preference="denoised"
    )
    alone = table([("r1", "c2", None, None)], preference="denoised").assign(
        side=None, criterion=None
    )
    frame = pd.concat([scored, alone])
    result = statistics.preference(frame)
    assert result["n_presentations"] == 2 and result["counts"]["test"] == 2
    assert list(statistics.describe(frame)) == ["noise"]


def test_vgr_matches_a_cluster_robust_logistic_fit_of_the_stacked_thresholds():
    # OrdinalGEE with independence is the binary logit of I(score > t) for every threshold t,
    # with one intercept per threshold; fitted here with GLM and case-clustered errors.
    df = simulated(readers=3, cases=20, effect=1.5, seed=2)
    result = statistics.vgr(df, "noise")
    thresholds = sorted(df.value.unique())[:-1]
    stacked = pd.concat(
        [
            pd.DataFrame(
                {
                    **{f"t{s}": float(s == t) for s in thresholds},
                    "test": (df.condition == "denoised").astype(float),
                    "reader_r1": (df.reader == "r1").astype(float),
                    "reader_r2": (df.reader == "r2").astype(float),
                    "y": (df.value > t).astype(float),
                    "case": df.case,
                }
            )
            for t in thresholds
        ]
    )
    glm = sm.GLM(stacked.y, stacked.drop(columns=["y", "case"]), family=sm.families.Binomial()).fit(
        cov_type="cluster", cov_kwds={"groups": stacked.case.to_numpy(), "use_correction": False}
    )
    assert result["log_odds_ratio"] == pytest.approx(glm.params["test"], rel=1e-4)
    assert result["se"] == pytest.approx(glm.bse["test"], rel=1e-3)
    assert result["odds_ratio"] == pytest.approx(math.exp(glm.params["test"]), rel=1e-4)
    assert result["odds_ratio"] > 1 and result["ci"][0] < result["odds_ratio"] < result["ci"][1]


DEGENERATE = {
    "empty": table([]),
    "one score everywhere": table(
        [
            (r, f"c{i}", c, 3)
            for r in ("r1", "r2")
            for i in range(4)
            for c in ("original", "denoised")
        ]
    ),
    "one reader one case": table([("r1", "c1", "original", 2), ("r1", "c1", "denoised", 4)]),
    "one condition": table([("r1", f"c{i}", "original", i % 5 + 1) for i in range(6)]),
    "separated": table(
        [
            (r, f"c{i}", c, v)
            for r in ("r1", "r2")
            for i in range(6)
            for c, v in (("original", 1), ("denoised", 5))
        ]
    ),
    "missing columns": pd.DataFrame({"reader": ["r1"], "value": [3]}),
}


@pytest.mark.parametrize("name", DEGENERATE)
def test_degenerate_data_gives_notes_not_exceptions(name):
    df = DEGENERATE[name]
    result = statistics.analyse(df, bootstrap=20)
    json.dumps(result, allow_nan=False)
    for criterion in ("noise", "sharpness"):
        for check, key in (
            (statistics.wilcoxon_paired(df, criterion), "p"),
            (statistics.vgc(df, criterion, bootstrap=20), "auc"),
            (statistics.vgr(df, criterion), "odds_ratio"),
            (statistics.inter_reader(df, criterion, bootstrap=20)["icc"], "value"),
        ):
            assert check[key] is not None or check["note"]
        statistics.intra_reader(df, criterion)
        statistics.describe_criterion(df, criterion)
    statistics.preference(df)
    for kind in plots.KINDS:
        assert plots.figure(df, "noise", kind).startswith(b"\x89PNG")


def test_degenerate_results_say_why():
    same = DEGENERATE["one score everywhere"]
    assert statistics.vgr(same, "noise")["note"] == "not estimable: every score is the same"
    assert statistics.wilcoxon_paired(same, "noise")["p"] is None
    assert statistics.inter_reader(same, "noise", bootstrap=0)["alpha"]["value"] is None
    separated = statistics.vgr(DEGENERATE["separated"], "noise")
    assert separated["odds_ratio"] is None and separated["note"].startswith("not estimable")
    lonely = statistics.vgc(DEGENERATE["one reader one case"], "noise", bootstrap=20)
    assert lonely["auc"] == 1.0 and lonely["ci_fixed_readers"] is None and lonely["note"]


def test_analyse_is_json_and_covers_every_criterion():
    df = pd.concat([simulated(seed=5), simulated(seed=6).assign(criterion="sharpness")])
    df["preference"] = np.where(np.arange(len(df)) % 3, "denoised", "original")
    result = statistics.analyse(df, seed=1, bootstrap=50)
    text = json.dumps(result, allow_nan=False)
    assert json.loads(text) == result
    assert result["conditions"] == {"reference": "original", "test": "denoised"}
    assert result["scale"] == "absolute"
    assert [c["criterion"] for c in result["criteria"]] == ["noise", "sharpness"]
    noise = result["criteria"][0]
    assert set(noise) == {
        "criterion",
        "describe",
        "wilcoxon",
        "vgc",
        "vgr",
        "inter_reader",
        "intra_reader",
    }
    assert noise["vgc"]["auc"] > 0.5 and noise["vgr"]["odds_ratio"] > 1
    assert statistics.analyse(df, seed=1, bootstrap=50) == result


def test_plots_are_png():
    df = simulated()
    for kind in plots.KINDS:
        png = plots.figure(df, "noise", kind)
        assert png.startswith(b"\x89PNG") and len(png) > 1000
    assert plots.data_uri(b"\x89PNG").startswith("data:image/png;base64,")
