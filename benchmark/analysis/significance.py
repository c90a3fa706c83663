"""Is method A really better than method B on this dataset?  Paired tests and intervals.

Two designs, chosen per dataset by the splits the run used:

* **Random content-disjoint splits** (several per dataset): for every pair of methods, the
  per-split SROCCs on the *same* splits are paired and the **Wilcoxon signed-rank test**
  (two-sided, exact null distribution; zero differences dropped, ``scipy.stats.wilcoxon``)
  tests whether their median difference is 0.  It assumes the per-split differences are
  independent and symmetric about their median.  Splits share training and test images, so
  they are not independent: the test is optimistic in that respect.  With ``k`` splits the
  smallest two-sided p attainable is ``2 / 2^k`` (10 splits: 0.00195; 3 splits: 0.25).  The
  CSV also gives the p of the **corrected resampled t-test** (Nadeau & Bengio 2003, Machine
  Learning 52(3)), whose variance term ``(1/k + n_test/n_train) s^2`` accounts for the
  overlap (it assumes roughly normal differences); ``significance_table(test="corrected_t")``
  bases the matrix on it instead.
* **One official split**: a **paired bootstrap over the test images** (1000 draws with
  replacement, seed 0, the same draws for both methods; SROCC recomputed on each draw, ties
  from repeated images ranked by their average).  The 95% interval of the SROCC difference is
  the percentile interval; the two-sided p is ``2 Phi(-|d| / se)`` with the bootstrap standard
  error (continuous, so that Holm's correction can reach it with many pairs).  It assumes the
  test images are an i.i.d. sample of the population of interest and says nothing about
  variation from the training set (there is one).

In both cases the p-values of all pairs on a dataset are adjusted with **Holm's step-down
method** (family-wise error 0.05).  The matrix entry of row A, column B is 1 when A's SROCC is
significantly higher than B's, -1 when significantly lower, 0 when the difference is not
significant (as in the LIVE and TID significance matrices, Sheikh et al. 2006, Table VI).

:func:`srocc_intervals` gives the 95% interval beside each single-dataset median in
``summary.csv``: test images are resampled within each split (1000 draws, seed 0) and the
median SROCC over the splits recomputed; the 2.5th and 97.5th percentiles of those medians.
It reflects the sampling of test images, not the variation between training sets (the spread
over splits is in ``srocc_std``).
"""
from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "ALPHA",
    "N_BOOT",
    "SEED",
    "bootstrap_srocc",
    "corrected_t_p",
    "holm",
    "pairwise_tests",
    "significance_matrix",
    "srocc_intervals",
    "wilcoxon_p",
]

N_BOOT = 1000
ALPHA = 0.05
SEED = 0


def holm(p: Sequence[float]) -> np.ndarray:
    """Holm (1979) step-down adjusted p-values (NaN stays NaN and does not count in the family)."""
    p = np.asarray(p, dtype=float)
    out = np.full(p.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(p))
    m = len(ok)
    if m == 0:
        return out
    order = ok[np.argsort(p[ok], kind="stable")]
    adj = np.minimum(1.0, np.maximum.accumulate((m - np.arange(m)) * p[order]))
    out[order] = adj
    return out


def wilcoxon_p(d: np.ndarray) -> float:
    """Two-sided exact Wilcoxon signed-rank p of paired differences (1.0 when every difference is 0)."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    if len(d) == 0 or np.all(d == 0):
        return 1.0
    return float(stats.wilcoxon(d, zero_method="wilcox", alternative="two-sided", method="auto").pvalue)


def corrected_t_p(d: np.ndarray, test_train_ratio: float) -> float:
    """Two-sided p of Nadeau & Bengio's corrected resampled t-test (NaN with fewer than 2 splits)."""
    d = np.asarray(d, dtype=float)
    d = d[np.isfinite(d)]
    k = len(d)
    if k < 2:
        return float("nan")
    var = d.var(ddof=1)
    if var == 0:
        return 1.0 if d.mean() == 0 else 0.0
    t = d.mean() / np.sqrt((1.0 / k + test_train_ratio) * var)
    return float(2 * stats.t.sf(abs(t), k - 1))


def _rank_rows(a: np.ndarray) -> np.ndarray:
    return stats.rankdata(a, axis=1)


def _row_pearson(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = x - x.mean(1, keepdims=True)
    y = y - y.mean(1, keepdims=True)
    den = np.sqrt((x * x).sum(1) * (y * y).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (x * y).sum(1) / den
    return np.where(den > 0, r, 0.0)


def bootstrap_srocc(pred: np.ndarray, true: np.ndarray, idx: np.ndarray) -> np.ndarray:
    """SROCC of every bootstrap draw: ``idx`` is ``(n_draws, n)`` indices into ``pred``/``true``
    (both oriented higher-is-better); a draw whose predictions or scores are constant gets 0."""
    return _row_pearson(_rank_rows(pred[idx]), _rank_rows(true[idx]))


def _oriented(df: pd.DataFrame) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    p = df["y_pred"].to_numpy(float) * (1 if bool(df["pred_higher_better"].iloc[0]) else -1)
    y = df["y_true"].to_numpy(float) * (1 if bool(df["true_higher_better"].iloc[0]) else -1)
    return df["image"].astype(str).to_numpy(), p, y


def _paired_bootstrap(a: pd.DataFrame, b: pd.DataFrame, n_boot: int, seed: int) -> dict:
    ia, pa, ya = _oriented(a)
    ib, pb, _ = _oriented(b)
    sa = pd.Series(pa, index=ia)
    sb = pd.Series(pb, index=ib)
    common = [i for i in ia if i in sb.index]
    sa, sb = sa[common].to_numpy(), sb[common].to_numpy()
    y = pd.Series(ya, index=ia)[common].to_numpy()
    ok = np.isfinite(sa) & np.isfinite(sb)
    sa, sb, y = sa[ok], sb[ok], y[ok]
    n = len(y)
    if n < 3:
        return {"n": n, "srocc_diff": np.nan, "ci_low": np.nan, "ci_high": np.nan, "p": np.nan}
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, n, size=(n_boot, n))
    d = bootstrap_srocc(sa, y, idx) - bootstrap_srocc(sb, y, idx)
    full = stats.spearmanr(sa, y).statistic - stats.spearmanr(sb, y).statistic
    se = d.std(ddof=1)
    p = 1.0 if se == 0 and full == 0 else (0.0 if se == 0 else float(2 * stats.norm.sf(abs(full) / se)))
    lo, hi = np.percentile(d, [2.5, 97.5])
    return {"n": n, "srocc_diff": float(full), "ci_low": float(lo), "ci_high": float(hi), "p": p}


def pairwise_tests(results: list, dataset: str, metrics: pd.DataFrame, *, n_boot: int = N_BOOT, seed: int = SEED,
                   test_size: float = 0.2, test: str = "wilcoxon") -> pd.DataFrame:
    """Every pair of methods with within-dataset results on ``dataset``: one row per ordered pair.

    Columns: ``dataset, method_a, method_b, design (splits|bootstrap), n (splits or images),
    diff (SROCC a - b: median over splits, or on the full test set), ci_low, ci_high (bootstrap),
    p_wilcoxon, p_corrected_t (splits), p (the test used), p_holm, decision (1 / 0 / -1)``.
    """
    if test not in ("wilcoxon", "corrected_t"):
        raise ValueError(f"test must be 'wilcoxon' or 'corrected_t', got {test!r}")
    w = metrics[(metrics["plan"] == "within") & (metrics["test_set"] == dataset)]
    w = w[np.isfinite(w["srocc"].to_numpy(dtype=float))]       # failed / undefined splits have nothing to test
    if w.empty:
        return pd.DataFrame()
    methods = list(dict.fromkeys(w["method"]))
    n_splits = w.groupby("method")["split"].nunique()
    official = bool((w["split"] == "official").any()) or int(n_splits.max()) == 1
    rows = []
    if official:
        frames = {}
        for info, plan, _tr, test_set, split, df in results:
            if plan == "within" and test_set == dataset and info.name in methods and info.name not in frames:
                frames[info.name] = df
        for a, b in combinations([m for m in methods if m in frames], 2):
            r = _paired_bootstrap(frames[a], frames[b], n_boot, seed)
            rows.append({"method_a": a, "method_b": b, "design": "bootstrap", **r, "p_wilcoxon": np.nan,
                         "p_corrected_t": np.nan})
    else:
        piv = w.pivot_table(index="split", columns="method", values="srocc", aggfunc="first")
        ratio = test_size / (1.0 - test_size)
        for a, b in combinations(methods, 2):
            both = piv[[a, b]].dropna()
            d = (both[a] - both[b]).to_numpy()
            pw = wilcoxon_p(d) if len(d) else np.nan
            pt = corrected_t_p(d, ratio)
            rows.append({"method_a": a, "method_b": b, "design": "splits", "n": len(d),
                         "srocc_diff": float(np.median(d)) if len(d) else np.nan, "ci_low": np.nan, "ci_high": np.nan,
                         "p_wilcoxon": pw, "p_corrected_t": pt,
                         "p": pw if test == "wilcoxon" else pt})
    out = pd.DataFrame(rows, columns=["method_a", "method_b", "design", "n", "srocc_diff", "ci_low", "ci_high",
                                      "p_wilcoxon", "p_corrected_t", "p"])
    if out.empty:
        return out
    out["p_holm"] = holm(out["p"].to_numpy())
    sig = out["p_holm"] < ALPHA
    out["decision"] = np.where(sig, np.sign(out["srocc_diff"]), 0).astype(int)
    out.insert(0, "dataset", dataset)
    out["test"] = np.where(out["design"] == "bootstrap", "paired bootstrap", test)
    return out


def significance_matrix(pairs: pd.DataFrame, methods: Sequence[str]) -> np.ndarray:
    """``(n, n)`` of 1 / 0 / -1 (row better / indistinguishable / worse); NaN on the diagonal."""
    idx = {m: i for i, m in enumerate(methods)}
    M = np.full((len(methods), len(methods)), np.nan)
    for i in range(len(methods)):
        for j in range(len(methods)):
            if i != j:
                M[i, j] = 0.0
    for r in pairs.itertuples():
        if r.method_a in idx and r.method_b in idx:
            M[idx[r.method_a], idx[r.method_b]] = r.decision
            M[idx[r.method_b], idx[r.method_a]] = -r.decision
    return M


def srocc_intervals(results: list, *, n_boot: int = N_BOOT, seed: int = SEED) -> pd.DataFrame:
    """``method, test_set, srocc_ci_low, srocc_ci_high`` for every within-dataset result (see module doc)."""
    groups: dict[tuple[str, str], list[pd.DataFrame]] = {}
    for info, plan, _tr, test_set, _split, df in results:
        if plan == "within":
            groups.setdefault((info.name, test_set), []).append(df)
    rows = []
    for (method, ds), frames in groups.items():
        draws = []
        for k, df in enumerate(frames):
            _, p, y = _oriented(df)
            ok = np.isfinite(p)
            p, y = p[ok], y[ok]
            if len(y) < 3:
                continue
            rng = np.random.default_rng([seed, k])
            idx = rng.integers(0, len(y), size=(n_boot, len(y)))
            draws.append(bootstrap_srocc(p, y, idx))
        if not draws:
            continue
        med = np.median(np.vstack(draws), axis=0)
        lo, hi = np.percentile(med, [2.5, 97.5])
        rows.append({"method": method, "test_set": ds, "srocc_ci_low": float(lo), "srocc_ci_high": float(hi)})
    return pd.DataFrame(rows, columns=["method", "test_set", "srocc_ci_low", "srocc_ci_high"])
