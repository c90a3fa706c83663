"""The papers' other table shapes, computed from saved predictions.

* Per-distortion columns of a cross-dataset plan (the survey's Table II: train on LIVE, test on
  TID2008, columns JP2K / JPEG / WN / BLUR / ALL4): SROCC and PLCC within each distortion type of
  the test set that the training set also holds, on the images of those shared types together
  ("shared"), and on the whole test set ("ALL").
* TID2013's distortion groups (Bosse et al. Table VI): SROCC on the test images of each group,
  mean over the splits.
"""
from __future__ import annotations

import numpy as np
import pandas as pd

from ..evaluation import evaluate
from ..tables import TID2013_GROUPS, Table, _method_rows, cell_matrix, group_srocc_table

__all__ = ["MIN_PLCC_N", "cross_per_distortion_tables", "tid2013_group_table"]

MIN_PLCC_N = 10    # as the runner's per-distortion rows: fewer images get SROCC only


def _corr(df: pd.DataFrame) -> tuple[float, float]:
    d = df[np.isfinite(df["y_pred"].to_numpy(float))]
    if len(d) < 3:
        return np.nan, np.nan
    e = evaluate(d["y_true"], d["y_pred"], true_higher_better=bool(d["true_higher_better"].iloc[0]),
                 pred_higher_better=bool(d["pred_higher_better"].iloc[0]))
    return e["srocc"], (e["plcc"] if len(d) >= MIN_PLCC_N else np.nan)


def _train_types(results: list) -> dict[str, set[str]]:
    """Distortion types seen in each dataset's within-dataset predictions."""
    out: dict[str, set[str]] = {}
    for _info, plan, _tr, test, _split, df in results:
        if plan == "within":
            out.setdefault(test, set()).update(t for t in df["dist_type"].astype(str) if t)
    return out


def cross_per_distortion_tables(results: list) -> list[tuple[str, Table, pd.DataFrame]]:
    """One table per one-vs-one pair (train -> test) whose test set has distortion types."""
    known = _train_types(results)
    by_pair: dict[tuple[str, str], list] = {}
    for info, plan, train, test, _split, df in results:
        if plan == "one-vs-one" and (df["dist_type"].astype(str) != "").any():
            by_pair.setdefault((train, test), []).append((info, df))
    out = []
    for (train, test), items in by_pair.items():
        types_test = sorted({t for _, df in items for t in df["dist_type"].astype(str) if t})
        shared = [t for t in types_test if t in known.get(train, set())]
        cols = shared if shared else types_test
        rows, meta = [], []
        for info, df in items:
            meta.append({"method": info.name, "label": info.display, "group": info.group})
            for t in cols:
                s, p = _corr(df[df["dist_type"] == t])
                rows.append({"method": info.name, "column": t, "srocc": s, "plcc": p})
            if shared:
                s, p = _corr(df[df["dist_type"].isin(shared)])
                rows.append({"method": info.name, "column": f"shared ({len(shared)})", "srocc": s, "plcc": p})
            s, p = _corr(df)
            rows.append({"method": info.name, "column": "ALL", "srocc": s, "plcc": p})
        frame = pd.DataFrame(rows)
        methods, labels, groups = _method_rows(pd.DataFrame(meta).drop_duplicates("method"), None)
        keys = list(dict.fromkeys(frame["column"]))
        tcols = [(k, m) for m in ("SROCC", "PLCC") for k in keys]
        idx = frame.set_index(["method", "column"])
        vals = np.hstack([cell_matrix(idx[metric.lower()], methods, keys) for metric in ("SROCC", "PLCC")])
        t = Table(f"Cross-dataset per distortion: train on {train}, test on {test}",
                  f"Trained on all images of {train}, tested on all images of {test}: SROCC and PLCC within each "
                  f"distortion type of {test}" + (f" that {train} also holds, on those {len(shared)} types together "
                                                  f"('shared', the survey's ALL4)" if shared else "") +
                  ", and on the whole test set (ALL), as the survey's Table II.", labels, tcols, vals, groups)
        out.append((f"cross_per_distortion_{train}__{test}", t, frame.assign(train_set=train, test_set=test)))
    return out


def tid2013_group_table(results: list, dataset: str = "tid2013"):
    """``(stem, Table, frame)`` of SROCC per TID2013 group (mean over splits), or None without TID2013."""
    from ..datasets.adapters.tid2013 import DISTORTION_NAMES

    groups = {g: {DISTORTION_NAMES[k] for k in ids} for g, ids in TID2013_GROUPS.items()}
    rows = []
    for info, plan, _tr, test, split, df in results:
        if plan != "within" or test != dataset:
            continue
        for g, types in groups.items():
            s, _ = _corr(df[df["dist_type"].isin(types)])
            rows.append({"method": info.name, "label": info.display, "group": info.group, "column": g,
                         "split": split, "value": s})
        s, _ = _corr(df)
        rows.append({"method": info.name, "label": info.display, "group": info.group, "column": "Full",
                     "split": split, "value": s})
    if not rows:
        return None
    frame = pd.DataFrame(rows)
    mean = frame.groupby(["method", "label", "group", "column"], sort=False, as_index=False)["value"].mean()
    t = group_srocc_table(mean, title="TID2013 distortion groups (SROCC)", caption=(
        "SROCC on the test images of each TID2013 distortion group (Ponomarenko et al. 2015; Bosse et al. Table "
        "VI), mean over the splits; groups: " + "; ".join(f"{g}: #{', #'.join(map(str, ids))}"
                                                         for g, ids in TID2013_GROUPS.items()) + "."))
    return ("tid2013_groups", t, frame)
