"""The statistics of a visual-grading reader study, computed from the study's tidy export.

The input is the export as a DataFrame, one row per score (and one without a score for an
answer given without any; only the preference counts those), with the columns `reader`,
`session`, `case`, `side`, `condition`, `criterion`, `value` and `preference`. Two conditions
are compared: the reference `a` (the original images) and the test `b` (the denoised ones).

Absolute scoring (each image on its own 1..5 scale) is the main path. Relative scoring (B
against A, -2..+2, one row per presentation whose `condition` is the condition shown as B) is
oriented first, so that a positive value means that `b` looked better than `a`; it gets the
distribution, the one-sample Wilcoxon test and the agreement statistics. VGC and VGR compare two
sets of absolute ratings and say so in a note for relative scores.

Session 1 is the study. Session 2, the repeated reading after a washout, serves only the
intra-reader agreement, so that a re-read case never counts twice.

Every function returns plain dicts. Where there are too few data, or no variation, the fields
are None and `note` says why: nothing here raises because of the data.
"""

from __future__ import annotations

import itertools
import math
import warnings

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score
from statsmodels.genmod.cov_struct import Independence
from statsmodels.genmod.generalized_estimating_equations import OrdinalGEE
from statsmodels.tools.sm_exceptions import ConvergenceWarning

REFERENCE, TEST = "original", "denoised"
ABSOLUTE_LEVELS = [1, 2, 3, 4, 5]
RELATIVE_LEVELS = [-2, -1, 0, 1, 2]
COLUMNS = ("reader", "case", "condition", "criterion", "value")
ALPHA = 0.05
# An odds ratio beyond e^20 means the conditions separate the scores: the estimate diverges.
MAX_LOG_ODDS = 20.0
VGR_METHOD = (
    "ordinal GEE (cumulative logit), clustered on case, readers as fixed effects, "
    "independence working correlation, robust (sandwich) standard errors"
)


# Preparing the table


def _frame(
    df: pd.DataFrame | None,
    criterion: str | None = None,
    session: int | None = 1,
    scored: bool = True,
):
    """Returns the usable rows of one criterion and session with clean types (maybe none);
    ``scored=False`` keeps the rows without a score (an answer given without any)."""
    if df is None or any(column not in df.columns for column in COLUMNS):
        return pd.DataFrame({c: pd.Series(dtype=object) for c in [*COLUMNS, "session", "side"]})
    frame = df.copy()
    frame["value"] = pd.to_numeric(frame["value"], errors="coerce")
    if "session" not in frame:
        frame["session"] = 1
    # An export without a session column, or with blanks in it, is a single reading.
    frame["session"] = pd.to_numeric(frame["session"], errors="coerce").fillna(1).astype(int)
    for column in ("reader", "case", "condition", "criterion"):
        frame[column] = frame[column].astype(str)
    for column in ("side", "preference"):
        if column in frame:
            frame[column] = frame[column].fillna("").astype(str)
    if scored:
        frame = frame[frame["value"].notna()]
    if criterion is not None:
        frame = frame[frame["criterion"] == criterion]
    if session is not None:
        frame = frame[frame["session"] == session]
    return frame


def scale_of(df: pd.DataFrame) -> str:
    """Tells whether the scores are 'absolute' (each image) or 'relative' (B against A)."""
    frame = _frame(df, session=None)
    if frame.empty:
        return "absolute"
    # A relative study scores only side B, on a scale centred on 0.
    if "side" in frame and not (frame["side"] == "A").any():
        return "relative"
    return "relative" if frame["value"].min() <= 0 else "absolute"


def conditions_of(df: pd.DataFrame) -> tuple[str, str]:
    """Guesses (reference, test): 'original' and 'denoised' when present, else sorted names."""
    present = set(_frame(df, session=None)["condition"])
    others = sorted(present - {REFERENCE, TEST})
    reference = REFERENCE if REFERENCE in present or not others else others.pop(0)
    test = TEST if TEST in present or not others else others.pop(0)
    return reference, test


def _oriented(frame: pd.DataFrame, a: str, b: str) -> pd.DataFrame:
    """Returns relative rows with `value` signed so that positive means b looked better."""
    frame = frame[frame["condition"].isin([a, b])].copy()
    frame["value"] = np.where(frame["condition"] == b, frame["value"], -frame["value"])
    return frame


def _levels(values, scale: str) -> list[int]:
    """Returns the scale's levels plus any other value that occurs, in order."""
    base = RELATIVE_LEVELS if scale == "relative" else ABSOLUTE_LEVELS
    return sorted(set(base) | {int(round(v)) for v in values})


def _num(value) -> float | None:
    """Returns a finite float, or None for NaN, infinity and None."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else None


def _interval(low, high) -> list | None:
    """Returns [low, high] when both ends are finite numbers, else None."""
    low, high = _num(low), _num(high)
    return None if low is None or high is None else [low, high]


def _percentile_ci(replicates) -> list | None:
    """Returns the percentile interval of the finite bootstrap replicates."""
    replicates = np.asarray(replicates, float)
    replicates = replicates[np.isfinite(replicates)]
    if len(replicates) < 2:
        return None
    low, high = np.percentile(replicates, [100 * ALPHA / 2, 100 * (1 - ALPHA / 2)])
    return _interval(low, high)


def _notes(*notes: str | None) -> str | None:
    """Joins the notes that apply into one sentence list, or None."""
    notes = [n for n in notes if n]
    return "; ".join(notes) if notes else None


# Description


def describe(
    df: pd.DataFrame, a: str = REFERENCE, b: str = TEST, scale: str | None = None
) -> dict[str, dict]:
    """Summarises every criterion, keyed by criterion: see `describe_criterion`."""
    criteria = dict.fromkeys(_frame(df)["criterion"])
    return {c: describe_criterion(df, c, a, b, scale) for c in criteria}


def describe_criterion(
    df: pd.DataFrame, criterion: str, a: str = REFERENCE, b: str = TEST, scale: str | None = None
) -> dict:
    """Summarises one criterion per condition: n, mean, median, quartiles, counts per level."""
    scale = scale or scale_of(df)
    frame = _frame(df, criterion)
    if scale == "relative":
        groups = [(f"{b} vs {a}", _oriented(frame, a, b))]
    else:
        groups = [(c, frame[frame["condition"] == c]) for c in (a, b)]
    levels = _levels(pd.concat([rows["value"] for _, rows in groups]), scale)
    return {
        "scale": scale,
        "levels": levels,
        "groups": [_group(label, rows, levels) for label, rows in groups],
        "note": None if len(frame) else "no scores for this criterion",
    }


def _group(label: str, rows: pd.DataFrame, levels: list[int]) -> dict:
    """Summarises one condition's scores, pooled and per reader."""
    values = rows["value"].to_numpy(float)

    def counts(v):
        return [int(np.sum(v == level)) for level in levels]

    q1 = median = q3 = None
    if len(values):
        q1, median, q3 = np.percentile(values, [25, 50, 75])
    return {
        "label": label,
        "n": len(values),
        "mean": _num(values.mean()) if len(values) else None,
        "median": _num(median),
        "q1": _num(q1),
        "q3": _num(q3),
        "counts": counts(values),
        "readers": [
            {"reader": reader, "n": len(g), "counts": counts(g["value"].to_numpy(float))}
            for reader, g in rows.groupby("reader", sort=True)
        ],
    }


# Wilcoxon signed rank


def wilcoxon_paired(
    df: pd.DataFrame, criterion: str, a: str = REFERENCE, b: str = TEST, scale: str | None = None
) -> dict:
    """Tests b against a on each case's median over readers (Wilcoxon signed rank)."""
    scale = scale or scale_of(df)
    frame = _frame(df, criterion)
    if scale == "relative":
        # One oriented value per presentation: its case median is already a difference.
        medians = _oriented(frame, a, b).groupby("case")["value"].median()
        differences = medians.to_numpy(float)
        method = "one-sample Wilcoxon signed rank of per-case median relative scores vs 0"
    else:
        medians = frame.groupby(["case", "condition"])["value"].median().unstack()
        paired = a in medians and b in medians
        differences = (medians[b] - medians[a]).dropna().to_numpy(float) if paired else []
        method = "Wilcoxon signed rank of per-case medians over readers, b minus a"
    return {"method": method, **signed_rank(differences)}


def signed_rank(differences) -> dict:
    """Tests paired differences against 0, with the matched-pairs rank-biserial correlation."""
    d = np.asarray(differences, float)
    d = d[np.isfinite(d)]
    nonzero = d[d != 0]
    result = {
        "statistic": None,
        "p": None,
        "n": len(d),
        "n_nonzero": len(nonzero),
        "median_difference": _num(np.median(d)) if len(d) else None,
        "effect_size": None,
        "note": None,
    }
    if not len(nonzero):
        result["note"] = "no paired cases" if not len(d) else "no case differs between conditions"
        return result
    # Zero differences are dropped (Wilcoxon's method), for the test and the effect size alike.
    ranks = stats.rankdata(np.abs(nonzero))
    effect = (ranks[nonzero > 0].sum() - ranks[nonzero < 0].sum()) / ranks.sum()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # scipy warns about ties and small n; the note says it
        test = stats.wilcoxon(d, zero_method="wilcox")
    result.update(statistic=_num(test.statistic), p=_num(test.pvalue), effect_size=_num(effect))
    if len(nonzero) < 6:
        result["note"] = "fewer than 6 cases differ: an exact test cannot reach p < 0.05"
    return result


# Visual grading characteristics


def vgc(
    df: pd.DataFrame,
    criterion: str,
    a: str = REFERENCE,
    b: str = TEST,
    bootstrap: int = 2000,
    seed: int = 0,
    scale: str | None = None,
) -> dict:
    """Computes the VGC curve and AUC_VGC of b against a, with bootstrap CIs (session 1).

    Each reader's ratings of `a` are the x axis and of `b` the y axis, as in ROC analysis; the
    reader's AUC is the Mann-Whitney U / (n_a n_b) with ties counted half. The study's AUC is
    the mean over readers (the average-reader figure of merit), and its curve the mean of the
    readers' points at each threshold. CIs are percentile intervals over `bootstrap` resamples
    of cases (fixed readers: they generalise to new cases) and of readers and cases together
    (random readers: to new readers too). A case is resampled with both its conditions, which
    keeps the paired design.
    """
    result = {
        "auc": None,
        "ci_fixed_readers": None,
        "ci_random_readers": None,
        "points": None,
        "readers": [],
        "levels": [],
        "n_cases": 0,
        "n_readers": 0,
        "bootstrap": int(bootstrap),
        "note": None,
    }
    if (scale or scale_of(df)) == "relative":
        result["note"] = "VGC compares absolute scores; relative scores use the Wilcoxon test"
        return result
    frame = _frame(df, criterion)
    frame = frame[frame["condition"].isin([a, b])]
    if frame["condition"].nunique() < 2:
        result["note"] = "VGC needs scores of both conditions"
        return result
    readers = sorted(frame["reader"].unique())
    cases = sorted(frame["case"].unique())
    levels = np.array(sorted(frame["value"].unique()))
    # counts[condition, reader, case, level]: how often each reader gave each case each score.
    counts = np.zeros((2, len(readers), len(cases), len(levels)))
    np.add.at(
        counts,
        (
            (frame["condition"] == b).to_numpy(int),
            pd.Categorical(frame["reader"], categories=readers).codes,
            pd.Categorical(frame["case"], categories=cases).codes,
            np.searchsorted(levels, frame["value"].to_numpy()),
        ),
        1,
    )
    # psi[k, l]: the U statistic's credit for a at level k against b at level l.
    psi = 0.5 * (np.sign(levels[None, :] - levels[:, None]) + 1)
    ones = np.ones((1, len(cases)))
    auc = _reader_aucs(counts, psi, ones)[:, 0]
    valid = np.isfinite(auc)
    per_reader = counts.sum(axis=2)
    points = [_curve(per_reader[0, r], per_reader[1, r]) for r in range(len(readers))]
    valid_points = [p for p, ok in zip(points, valid, strict=True) if ok]
    result.update(
        auc=_num(auc[valid].mean()) if valid.any() else None,
        points=np.mean(valid_points, axis=0).tolist() if valid_points else None,
        readers=[
            {"reader": r, "auc": _num(x), "points": p.tolist() if ok else None}
            for r, x, p, ok in zip(readers, auc, points, valid, strict=True)
        ],
        levels=levels.tolist(),
        n_cases=len(cases),
        n_readers=len(readers),
    )
    notes = []
    if bootstrap > 0 and len(cases) >= 2 and valid.any():
        rng = np.random.default_rng(seed)
        weights = rng.multinomial(len(cases), np.full(len(cases), 1 / len(cases)), size=bootstrap)
        replicates = _reader_aucs(counts, psi, weights)  # readers x resamples
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # a resample without a reader's a
            fixed = np.nanmean(replicates, axis=0)
            if len(readers) >= 2:
                draw = rng.integers(0, len(readers), size=(bootstrap, len(readers)))
                random = np.nanmean(replicates[draw.T, np.arange(bootstrap)], axis=0)
                result["ci_random_readers"] = _percentile_ci(random)
            else:
                notes.append("one reader: no random-reader interval")
        result["ci_fixed_readers"] = _percentile_ci(fixed)
    elif bootstrap > 0:
        notes.append("too few cases for a bootstrap interval")
    if not valid.any():
        notes.append("no reader scored both conditions")
    elif len(cases) < 10:
        notes.append("fewer than 10 cases: bootstrap intervals may be too narrow")
    result["note"] = _notes(*notes)
    return result


def _reader_aucs(counts: np.ndarray, psi: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Returns each reader's AUC (readers x rows of `weights`) with cases weighted by `weights`."""
    n_a = np.einsum("bc,rcl->rbl", weights, counts[0])
    n_b = np.einsum("bc,rcl->rbl", weights, counts[1])
    u = np.einsum("rbk,kl,rbl->rb", n_a, psi, n_b)
    pairs = n_a.sum(axis=-1) * n_b.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(pairs > 0, u / np.where(pairs > 0, pairs, 1), np.nan)


def _curve(counts_a: np.ndarray, counts_b: np.ndarray) -> np.ndarray:
    """Returns the VGC points (x: a, y: b) from (0, 0) through each threshold, highest first."""
    with np.errstate(invalid="ignore", divide="ignore"):
        x = np.cumsum(counts_a[::-1]) / counts_a.sum()
        y = np.cumsum(counts_b[::-1]) / counts_b.sum()
    return np.vstack([[0.0, 0.0], np.column_stack([x, y])])


# Visual grading regression


def vgr(
    df: pd.DataFrame, criterion: str, a: str = REFERENCE, b: str = TEST, scale: str | None = None
) -> dict:
    """Fits visual grading regression: an ordinal GEE of score on condition (session 1).

    Python has no cumulative link mixed model, so the case effect is handled by clustering:
    all scores of a case (every reader, both conditions) form one cluster, and the robust
    standard errors allow any correlation inside it. Readers are few and the same on every
    case, so they enter as fixed effects (each reader's leniency) rather than as clusters.
    The odds ratio is that of a higher score for `b` than for `a`.
    """
    result = {
        "odds_ratio": None,
        "ci": None,
        "p": None,
        "log_odds_ratio": None,
        "se": None,
        "n_scores": 0,
        "n_cases": 0,
        "n_readers": 0,
        "method": VGR_METHOD,
        "note": None,
    }
    if (scale or scale_of(df)) == "relative":
        result["note"] = "not estimable: VGR compares absolute scores"
        return result
    frame = _frame(df, criterion)
    frame = frame[frame["condition"].isin([a, b])].reset_index(drop=True)
    result.update(
        n_scores=len(frame), n_cases=frame["case"].nunique(), n_readers=frame["reader"].nunique()
    )
    if frame["condition"].nunique() < 2:
        result["note"] = "not estimable: it needs scores of both conditions"
        return result
    if frame["value"].nunique() < 2:
        result["note"] = "not estimable: every score is the same"
        return result
    if result["n_cases"] < 2:
        result["note"] = "not estimable: it needs at least 2 cases"
        return result
    exog = pd.concat(
        [
            pd.DataFrame({"test": (frame["condition"] == b).astype(float)}),
            pd.get_dummies(frame["reader"], prefix="reader", drop_first=True, dtype=float),
        ],
        axis=1,
    )
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            model = OrdinalGEE(
                frame["value"].to_numpy(float),
                exog,
                groups=frame["case"].to_numpy(),
                cov_struct=Independence(),
            )
            fit = model.fit()
            beta, se, p = fit.params["test"], fit.bse["test"], fit.pvalues["test"]
        # statsmodels fails in many ways on degenerate data (singular matrices, empty
        # thresholds); this function's promise is a note, not an exception.
        except Exception as error:
            result["note"] = f"not estimable: the model could not be fitted ({error})"
            return result
    diverged = any(issubclass(w.category, ConvergenceWarning) for w in caught)
    if diverged or not all(map(math.isfinite, (beta, se, p))) or abs(beta) > MAX_LOG_ODDS:
        result["note"] = "not estimable: the fit did not converge (scores separate the conditions?)"
        return result
    z = stats.norm.ppf(1 - ALPHA / 2)
    result.update(
        odds_ratio=_num(math.exp(beta)),
        ci=_interval(math.exp(beta - z * se), math.exp(beta + z * se)),
        p=_num(p),
        log_odds_ratio=_num(beta),
        se=_num(se),
        note="fewer than 20 cases: robust standard errors are optimistic"
        if result["n_cases"] < 20
        else None,
    )
    return result


# Agreement


def icc(ratings, form: str = "2,1") -> dict:
    """Computes ICC(2,1) or ICC(3,1) with its 95% CI from a targets x raters matrix.

    Shrout & Fleiss (1979) from the two-way ANOVA mean squares; the CIs are McGraw & Wong's
    (1996), for ICC(2,1) with Satterthwaite's degrees of freedom. Rows with a missing rating
    are left out, since the ANOVA needs every target rated by every rater.
    """
    x = np.asarray(ratings, float)
    x = x[~np.isnan(x).any(axis=1)] if x.ndim == 2 else np.empty((0, 0))
    n, k = x.shape
    result = {"form": form, "value": None, "ci": None, "n": n, "k": k, "note": None}
    if n < 2 or k < 2:
        result["note"] = "it needs at least 2 targets rated by at least 2 raters"
        return result
    grand = x.mean()
    ss_rows = k * ((x.mean(axis=1) - grand) ** 2).sum()
    ss_cols = n * ((x.mean(axis=0) - grand) ** 2).sum()
    ss_error = max(((x - grand) ** 2).sum() - ss_rows - ss_cols, 0.0)
    msr, msc = ss_rows / (n - 1), ss_cols / (k - 1)
    mse = ss_error / ((n - 1) * (k - 1))
    df1, df2 = n - 1, (n - 1) * (k - 1)
    q = 1 - ALPHA / 2
    with np.errstate(invalid="ignore", divide="ignore"):
        if form == "3,1":
            value = (msr - mse) / (msr + (k - 1) * mse)
            f = msr / mse
            f_low, f_high = f / stats.f.ppf(q, df1, df2), f * stats.f.ppf(q, df2, df1)
            low, high = (f_low - 1) / (f_low + k - 1), (f_high - 1) / (f_high + k - 1)
        else:
            value = (msr - mse) / (msr + (k - 1) * mse + k * (msc - mse) / n)
            fj = msc / mse
            v = (df2 * (k * value * fj + n * (1 + (k - 1) * value) - k * value) ** 2) / (
                df1 * k**2 * value**2 * fj**2 + (n * (1 + (k - 1) * value) - k * value) ** 2
            )
            f_upper, f_lower = stats.f.ppf(q, df1, v), stats.f.ppf(q, v, df1)
            scale = k * msc + (k * n - k - n) * mse
            low = n * (msr - f_upper * mse) / (f_upper * scale + n * msr)
            high = n * (f_lower * msr - mse) / (scale + n * f_lower * msr)
    result.update(value=_num(value), ci=_interval(low, high))
    if result["value"] is None:
        result["note"] = "no variation between targets"
    elif result["ci"] is None:
        result["note"] = "no residual variation: no interval"
    return result


def _units(frame: pd.DataFrame, a: str, b: str, scale: str) -> pd.DataFrame:
    """Returns the rated units: an image (case and condition), or a case for relative scores."""
    if scale == "relative":
        frame = _oriented(frame, a, b)
        frame["unit"] = frame["case"]
    else:
        frame = frame[frame["condition"].isin([a, b])].copy()
        frame["unit"] = frame["case"] + " / " + frame["condition"]
    return frame


def kappa(x, y, levels: list[int]) -> float | None:
    """Computes the quadratic-weighted Cohen kappa of two raters, None without variation."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sklearn warns where kappa is undefined (0 / 0)
        value = cohen_kappa_score(
            np.asarray(x, int), np.asarray(y, int), labels=levels, weights="quadratic"
        )
    return _num(value)


def _alpha(value_counts: np.ndarray) -> float | None:
    """Computes Krippendorff's ordinal alpha from units x levels counts, None if undefined."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        try:
            return _num(
                krippendorff.alpha(value_counts=value_counts, level_of_measurement="ordinal")
            )
        except ValueError:  # a single level in the domain: alpha is undefined
            return None


def inter_reader(
    df: pd.DataFrame,
    criterion: str,
    a: str = REFERENCE,
    b: str = TEST,
    bootstrap: int = 2000,
    seed: int = 0,
    scale: str | None = None,
) -> dict:
    """Measures agreement between readers: ICC(2,1), ordinal alpha, pairwise kappa (session 1).

    The rated units are the images (a case in one condition), so the readers' agreement
    includes how they see the two conditions differ; with relative scores they are the cases.
    Krippendorff's alpha uses every unit rated twice or more; its CI resamples cases (with
    all their images), as cases are the sampled unit.
    """
    scale = scale or scale_of(df)
    frame = _units(_frame(df, criterion), a, b, scale)
    table = frame.pivot_table(index="unit", columns="reader", values="value", aggfunc="first")
    levels = _levels(frame["value"], scale)
    result = {
        "unit": "case" if scale == "relative" else "image (case and condition)",
        "n_readers": table.shape[1],
        "n_units": table.shape[0],
        "icc": icc(table.to_numpy(float), "2,1"),
        "alpha": {"value": None, "ci": None, "note": None},
        "kappa": [],
        "kappa_mean": None,
        "note": None,
    }
    if table.shape[1] < 2:
        result["note"] = "agreement between readers needs at least 2 readers"
        result["alpha"]["note"] = result["note"]
        return result
    matrix = table.to_numpy(float)
    value_counts = np.stack([(matrix == level).sum(axis=1) for level in levels], axis=1)
    result["alpha"] = _alpha_with_ci(value_counts, _unit_cases(table, frame), bootstrap, seed)
    for first, second in itertools.combinations(table.columns, 2):
        both = table[[first, second]].dropna()
        value = kappa(both[first], both[second], levels) if len(both) >= 2 else None
        note = None if value is not None else "too few shared units or no variation"
        result["kappa"].append(
            {"readers": [first, second], "n": len(both), "value": value, "note": note}
        )
    values = [k["value"] for k in result["kappa"] if k["value"] is not None]
    result["kappa_mean"] = _num(np.mean(values)) if values else None
    return result


def _unit_cases(table: pd.DataFrame, frame: pd.DataFrame) -> list[np.ndarray]:
    """Returns, per case, the row numbers of its units in `table`."""
    case_of = frame.drop_duplicates("unit").set_index("unit")["case"]
    cases = case_of.reindex(table.index).to_numpy()
    return [np.flatnonzero(cases == c) for c in pd.unique(cases)]


def _alpha_with_ci(value_counts, case_units, bootstrap: int, seed: int) -> dict:
    """Returns Krippendorff's ordinal alpha with a percentile CI over resampled cases."""
    value = _alpha(value_counts)
    result = {"value": value, "ci": None, "note": None}
    if value is None:
        result["note"] = "no variation or too few paired ratings"
        return result
    if bootstrap > 0 and len(case_units) >= 2:
        rng = np.random.default_rng(seed)
        replicates = [
            _alpha(value_counts[np.concatenate([case_units[i] for i in draw])])
            for draw in rng.integers(0, len(case_units), size=(bootstrap, len(case_units)))
        ]
        result["ci"] = _percentile_ci([np.nan if r is None else r for r in replicates])
    elif bootstrap > 0:
        result["note"] = "too few cases for a bootstrap interval"
    return result


def intra_reader(
    df: pd.DataFrame, criterion: str, a: str = REFERENCE, b: str = TEST, scale: str | None = None
) -> dict:
    """Measures each reader's agreement with themself: session 1 against session 2.

    Per reader, the units read in both sessions give a quadratic-weighted kappa and an
    ICC(3,1) (consistency: a reader who is stricter the second time still agrees).
    """
    scale = scale or scale_of(df)
    frame = _units(_frame(df, criterion, session=None), a, b, scale)
    frame = frame[frame["session"].isin([1, 2])]
    levels = _levels(frame["value"], scale)
    readers = []
    for reader, rows in frame.groupby("reader", sort=True):
        both = rows.pivot_table(index="unit", columns="session", values="value", aggfunc="first")
        if 2 not in both:
            continue
        both = both[[1, 2]].dropna() if 1 in both else both.iloc[0:0]
        entry = icc(both.to_numpy(float), "3,1") if len(both) else None
        value = kappa(both[1], both[2], levels) if len(both) >= 2 else None
        readers.append(
            {
                "reader": reader,
                "n": len(both),
                "kappa": value,
                "icc": entry["value"] if entry else None,
                "icc_ci": entry["ci"] if entry else None,
                "note": _notes(
                    None if value is not None else "kappa: too few units or no variation",
                    entry["note"] if entry else "no unit read in both sessions",
                ),
            }
        )
    return {
        "readers": readers,
        "note": None if readers else "no repeated readings (session 2) for this criterion",
    }


# Preference


def preference(df: pd.DataFrame, a: str = REFERENCE, b: str = TEST) -> dict:
    """Counts the preferred condition per presentation and tests b against a (binomial)."""
    result = {
        "counts": {"test": 0, "reference": 0, "none": 0, "unanswered": 0},
        "n_presentations": 0,
        "proportion_test": None,
        "ci": None,
        "p": None,
        "readers": [],
        "note": None,
    }
    frame = _frame(df, scored=False)  # a preference given without any score counts too
    if "preference" not in frame:
        result["note"] = "no preference column"
        return result
    # The preference is repeated on every score of a presentation: count it once.
    presentations = frame.drop_duplicates(["reader", "session", "case"])
    kind = presentations["preference"].map({b: "test", a: "reference", "none": "none"})
    kind = kind.fillna("unanswered")
    result["counts"].update(kind.value_counts().to_dict())
    result["n_presentations"] = len(presentations)
    result["readers"] = [
        {"reader": reader, "counts": {k: int((g == k).sum()) for k in result["counts"]}}
        for reader, g in kind.groupby(presentations["reader"], sort=True)
    ]
    test, reference = result["counts"]["test"], result["counts"]["reference"]
    if test + reference == 0:
        result["note"] = "no presentation preferred either condition"
        return result
    binomial = stats.binomtest(test, test + reference, p=0.5, alternative="two-sided")
    ci = binomial.proportion_ci(confidence_level=1 - ALPHA, method="exact")
    result.update(
        proportion_test=_num(binomial.statistic),
        ci=_interval(ci.low, ci.high),
        p=_num(binomial.pvalue),
    )
    return result


# Everything


def analyse(
    df: pd.DataFrame,
    seed: int = 0,
    bootstrap: int = 2000,
    conditions: tuple[str, str] | None = None,
    scale: str | None = None,
) -> dict:
    """Runs every analysis per criterion; returns a JSON-ready dict (None for non-numbers)."""
    a, b = conditions or conditions_of(df)
    scale = scale or scale_of(df)
    everything = _frame(df, session=None)
    first = everything[everything["session"] == 1]
    notes = []
    missing = [c for c in COLUMNS if df is None or c not in df.columns]
    if missing:
        notes.append(f"the table lacks the columns {', '.join(missing)}")
    elif first.empty:
        notes.append("no scores yet")
    others = sorted(set(everything["condition"]) - {a, b})
    if others:
        notes.append(f"conditions other than {a} and {b} are left out: {', '.join(others)}")
    criteria = list(dict.fromkeys(first["criterion"]))
    result = {
        "conditions": {"reference": a, "test": b},
        "scale": scale,
        "counts": {
            "readers": first["reader"].nunique(),
            "cases": first["case"].nunique(),
            "scores": len(first),
            "repeated_scores": int((everything["session"] == 2).sum()),
        },
        "seed": seed,
        "bootstrap": bootstrap,
        "criteria": [
            {
                "criterion": c,
                "describe": describe_criterion(df, c, a, b, scale),
                "wilcoxon": wilcoxon_paired(df, c, a, b, scale),
                "vgc": vgc(df, c, a, b, bootstrap, seed, scale),
                "vgr": vgr(df, c, a, b, scale),
                "inter_reader": inter_reader(df, c, a, b, bootstrap, seed, scale),
                "intra_reader": intra_reader(df, c, a, b, scale),
            }
            for c in criteria
        ],
        "preference": preference(df, a, b),
        "notes": notes,
    }
    return jsonable(result)


def jsonable(value):
    """Returns `value` with numpy scalars as Python numbers and NaN or infinity as None."""
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | np.ndarray):
        return [jsonable(v) for v in value]
    if isinstance(value, bool | np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        return _num(value)
    return value
