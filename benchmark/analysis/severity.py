"""Does a method see a small change of severity on the same picture?  (Bianco et al., paper 003,
final remarks: "no evidence ... that CNN-based BIQA methods are sensitive to small changes in
the severity of distortion on images with the same content".)

For datasets whose records carry content, distortion type and level (``synth``, LIVE, CSIQ,
TID2008/2013, KADID-10k, LIVE-MD's singly distorted images), within each group of test images
that share content and type:

* **within-group SROCC** between the predicted quality (higher = better) and the *negated*
  severity, averaged over the groups with at least 3 distinct levels: 1 when the method ranks
  every level of every picture as the level order does, 0 when it cannot tell them apart;
* **pairwise ordering accuracy at level step s**: over all pairs of images of one group whose
  level ranks differ by ``s``, the fraction the method orders correctly (the less severe one
  predicted better; a tie counts one half).  ``s = 1`` are the adjacent levels, the smallest
  change the dataset offers.

Levels are replaced by their rank within the group (1 = least severe), so ``s`` counts level
steps whatever the level values are.  Direction: a type's levels are taken to grow with the
distortion when the subjective scores say so and to shrink otherwise (the sign of the pooled
within-group SROCC between level and subjective quality, per dataset and type): LIVE's
``dist_level`` is the JPEG/JPEG 2000 bit rate or the fast-fading SNR for some types (higher =
milder) and the blur or noise sigma for others.  The same statistics of the **subjective
scores** themselves (row "Subjective scores") show how consistently people saw the levels.

Computed per test split and averaged over splits (a training-free metric's splits are its
per-split subsets of one prediction).
"""
from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = ["MAX_STEP", "SUBJECTIVE", "level_directions", "severity_frame", "severity_summary"]

SUBJECTIVE = "(subjective)"
MAX_STEP = 4


def _oriented(df: pd.DataFrame, col: str, flag: str) -> np.ndarray:
    return df[col].to_numpy(float) * (1.0 if bool(df[flag].iloc[0]) else -1.0)


def _usable(df: pd.DataFrame) -> pd.DataFrame:
    if "dist_level" not in df.columns:
        return df.iloc[:0]
    d = df[np.isfinite(df["dist_level"].to_numpy(float)) & (df["dist_type"].astype(str) != "")]
    return d


def level_directions(frames: list[pd.DataFrame]) -> dict[str, float]:
    """Per type: +1 if quality falls as the level rises (subjective scores), -1 if it rises."""
    signs: dict[str, list[float]] = {}
    seen = set()
    for df in frames:
        d = _usable(df)
        if d.empty:
            continue
        y = _oriented(d, "y_true", "true_higher_better")
        d = d.assign(_y=y)
        for (c, t), g in d.groupby(["content", "dist_type"]):
            if (c, t) in seen or g["dist_level"].nunique() < 2:
                continue
            seen.add((c, t))
            r = stats.spearmanr(g["dist_level"], g["_y"]).statistic
            if np.isfinite(r):
                signs.setdefault(t, []).append(r)
    return {t: (1.0 if np.mean(v) <= 0 else -1.0) for t, v in signs.items()}


def _group_stats(sev_rank: np.ndarray, quality: np.ndarray, max_step: int) -> tuple[float, dict[int, tuple[float, int]]]:
    """SROCC(quality, -severity) (NaN below 3 levels) and, per step, (correct pairs, pairs)."""
    n_levels = len(np.unique(sev_rank))
    rho = np.nan
    if n_levels >= 3:
        rho = 0.0 if np.ptp(quality) == 0 else float(stats.spearmanr(quality, -sev_rank).statistic)
    steps: dict[int, tuple[float, int]] = {}
    for i, j in combinations(range(len(sev_rank)), 2):
        s = int(abs(sev_rank[i] - sev_rank[j]))
        if s == 0 or s > max_step:
            continue
        milder, worse = (i, j) if sev_rank[i] < sev_rank[j] else (j, i)
        ok = 1.0 if quality[milder] > quality[worse] else (0.5 if quality[milder] == quality[worse] else 0.0)
        c, n = steps.get(s, (0.0, 0))
        steps[s] = (c + ok, n + 1)
    return rho, steps


def _row(name, label, group, ds, split, keys, sev, vals, max_step) -> dict:
    rhos, steps = [], {}
    for key in np.unique(keys):
        m = keys == key
        if m.sum() < 2:
            continue
        rank = stats.rankdata(sev[m], method="dense")
        rho, st = _group_stats(rank, vals[m], max_step)
        if np.isfinite(rho):
            rhos.append(rho)
        for s, (c, n) in st.items():
            c0, n0 = steps.get(s, (0.0, 0))
            steps[s] = (c0 + c, n0 + n)
    row = {"method": name, "label": label, "group": group, "test_set": ds, "split": split,
           "n_groups": len(rhos), "srocc": float(np.mean(rhos)) if rhos else np.nan}
    for s in range(1, max_step + 1):
        c, n = steps.get(s, (0.0, 0))
        row[f"acc_step{s}"] = c / n if n else np.nan
        row[f"pairs_step{s}"] = n
    return row


def severity_frame(results: list, max_step: int = MAX_STEP) -> pd.DataFrame:
    """One row per method x dataset x split (plus the subjective scores): ``srocc``, ``n_groups``,
    ``acc_step1..acc_step{max_step}`` and ``pairs_step*`` (within-dataset results only)."""
    by_ds: dict[str, list] = {}
    for info, plan, _tr, test_set, split, df in results:
        if plan == "within" and len(_usable(df)):
            by_ds.setdefault(test_set, []).append((info, split, df))
    rows = []
    for ds, items in by_ds.items():
        direction = level_directions([df for _, _, df in items])
        subjective_done = set()
        for info, split, df in items:
            d = _usable(df)
            d = d[d["dist_type"].isin(direction)]
            if d.empty:
                continue
            sev = d["dist_level"].to_numpy(float) * d["dist_type"].map(direction).to_numpy(float)
            keys = d[["content", "dist_type"]].astype(str).agg("\x00".join, axis=1).to_numpy()
            if split not in subjective_done:
                subjective_done.add(split)
                y = _oriented(d, "y_true", "true_higher_better")
                rows.append(_row(SUBJECTIVE, "Subjective scores", "", ds, split, keys, sev, y, max_step))
            q = _oriented(d, "y_pred", "pred_higher_better")
            ok = np.isfinite(q)
            rows.append(_row(info.name, info.display, info.group, ds, split, keys[ok], sev[ok], q[ok], max_step))
    cols = ["method", "label", "group", "test_set", "split", "n_groups", "srocc"] + \
        [f"acc_step{s}" for s in range(1, max_step + 1)] + [f"pairs_step{s}" for s in range(1, max_step + 1)]
    return pd.DataFrame(rows, columns=cols)


def severity_summary(frame: pd.DataFrame) -> pd.DataFrame:
    """Mean over splits of every statistic, per method and dataset (pairs: summed)."""
    if frame.empty:
        return frame
    acc = [c for c in frame.columns if c.startswith("acc_step") or c == "srocc"]
    pairs = [c for c in frame.columns if c.startswith("pairs_step")]
    g = frame.groupby(["method", "test_set"], sort=False)
    out = g[acc].mean().join(g[pairs].sum()).join(g["n_groups"].sum()).join(g.size().rename("n_splits"))
    meta = frame.drop_duplicates("method").set_index("method")[["label", "group"]]
    return out.reset_index().merge(meta, left_on="method", right_index=True, how="left")
