"""Evaluation protocols: content-disjoint random splits, official splits, cross-dataset plans.

* :func:`content_splits` (Kim et al. 2017, Section V): contents (reference images
  or scenes) are shuffled and ``test_size`` of them go to the test set, so no
  content appears on both sides; repeated ``n_repeats`` times with seeds
  ``seed, seed + 1, ...``; a seed that draws a test set already drawn is skipped while
  unused test sets remain (small datasets would otherwise repeat a split).  ``val_size`` optionally carves a validation set from
  the *training* contents only.
* :func:`official_split`: the dataset's own ``split`` column (``train``/``val``/``test``).
* :func:`plan_splits` picks the official split when the dataset has one, random
  splits otherwise.
* :func:`cross_plans`: train on all of A, test on all of B; :func:`lodo_plans`:
  leave-one-dataset-out; :func:`shared_type_plans`: the distortion types two datasets
  share, in two variants (see :class:`CrossPlan`).
* :func:`pool_training_sets`: the training set of a plan that trains on several
  datasets, with every dataset's scores on one scale and content ids namespaced.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["Split", "content_splits", "official_split", "plan_splits", "CrossPlan", "cross_plans",
           "lodo_plans", "shared_types", "shared_type_plans", "pool_training_sets", "normalise_scores",
           "SHARED_TEST_ONLY", "SHARED_BOTH"]

#: Bosse et al. 2018, Table II: train on all of A, test on the part of B with the types A and B share
SHARED_TEST_ONLY = "shared-types-test"
#: both sides restricted to the shared types (a stricter variant; not a table of the papers)
SHARED_BOTH = "shared-types-both"


@dataclass(frozen=True)
class Split:
    """Row indices (into a records frame) of one train/test(/val) split."""

    name: str
    train: np.ndarray
    test: np.ndarray
    val: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=int))
    seed: int | None = None

    def frames(self, records: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
        return records.iloc[self.train].reset_index(drop=True), records.iloc[self.test].reset_index(drop=True)


def _n_take(n: int, frac: float) -> int:
    return int(min(max(1, round(frac * n)), n - 1))


def content_splits(records: pd.DataFrame, n_repeats: int = 10, test_size: float = 0.2, val_size: float = 0.0,
                   seed: int = 0) -> list[Split]:
    """``n_repeats`` content-disjoint random splits (default 80/20 by content id)."""
    if not 0 < test_size < 1:
        raise ValueError("test_size must be in (0, 1)")
    contents = np.array(sorted(records["content"].astype(str).unique()))
    if contents.size < 2:
        raise ValueError(f"need at least 2 distinct contents to split, got {contents.size}")
    content_of = records["content"].astype(str).to_numpy()
    n_test = _n_take(contents.size, test_size)
    n_distinct = math.comb(contents.size, n_test)
    splits: list[Split] = []
    seen: set[frozenset] = set()
    s = seed - 1
    while len(splits) < n_repeats:
        s += 1
        rng = np.random.default_rng(s)
        perm = rng.permutation(contents)
        test_c = set(perm[:n_test])
        if frozenset(test_c) in seen and len(seen) < n_distinct:
            continue
        seen.add(frozenset(test_c))
        rest = perm[n_test:]
        val_c: set = set()
        if val_size > 0 and rest.size > 1:
            val_c = set(rest[:_n_take(rest.size, val_size)])
        is_test = np.isin(content_of, list(test_c))
        is_val = np.isin(content_of, list(val_c))
        splits.append(Split(
            name=f"r{len(splits):02d}",
            train=np.flatnonzero(~is_test & ~is_val),
            test=np.flatnonzero(is_test),
            val=np.flatnonzero(is_val),
            seed=s,
        ))
    return splits


def official_split(records: pd.DataFrame) -> Split:
    """The dataset's official split (``split`` column); ``val`` rows are kept apart."""
    s = records["split"].astype(str).str.lower().to_numpy()
    if not np.any(s == "test") or not np.any(s == "train"):
        raise ValueError("records have no official train/test split")
    return Split("official", np.flatnonzero(s == "train"), np.flatnonzero(s == "test"),
                 np.flatnonzero(np.isin(s, ["val", "valid", "validation"])))


def has_official_split(records: pd.DataFrame) -> bool:
    s = set(records["split"].astype(str).str.lower())
    return "train" in s and "test" in s


def plan_splits(records: pd.DataFrame, protocol: str = "auto", n_repeats: int = 10, test_size: float = 0.2,
                val_size: float = 0.0, seed: int = 0) -> list[Split]:
    """Official split when there is one (``protocol="auto"``), else content-disjoint random splits."""
    if protocol == "official" or (protocol == "auto" and has_official_split(records)):
        return [official_split(records)]
    if protocol not in ("auto", "random"):
        raise ValueError(f"protocol must be auto, random or official; got {protocol!r}")
    return content_splits(records, n_repeats=n_repeats, test_size=test_size, val_size=val_size, seed=seed)


@dataclass(frozen=True)
class CrossPlan:
    """Train on ``train_sets`` (all their images), test on all of ``test_set``.

    ``types`` (the distortion types the two datasets share) restricts the test set; with
    ``kind == SHARED_BOTH`` the training set too.  ``SHARED_TEST_ONLY`` is Bosse et al.
    2018, Table II (models trained on the full LIVE, tested on the CSIQ and TID2013 subsets
    with the four types shared with LIVE); ``SHARED_BOTH`` also leaves the other types out
    of training.
    """

    kind: str                     # "one-vs-one", "lodo", SHARED_TEST_ONLY, SHARED_BOTH
    train_sets: tuple[str, ...]
    test_set: str
    types: tuple[str, ...] = ()

    @property
    def restricts_train(self) -> bool:
        return bool(self.types) and self.kind != SHARED_TEST_ONLY

    @property
    def train_name(self) -> str:
        name = "+".join(self.train_sets)
        return f"{name}[{','.join(self.types)}]" if self.restricts_train else name

    @property
    def test_name(self) -> str:
        return f"{self.test_set}[{','.join(self.types)}]" if self.types else self.test_set


def cross_plans(names: list[str]) -> list[CrossPlan]:
    """One-vs-one: every ordered pair (A, B), A != B."""
    return [CrossPlan("one-vs-one", (a,), b) for a in names for b in names if a != b]


def lodo_plans(names: list[str]) -> list[CrossPlan]:
    """Leave one dataset out: train on all others, test on the one left out (needs >= 3 datasets)."""
    if len(names) < 3:
        return []
    return [CrossPlan("lodo", tuple(n for n in names if n != b), b) for b in names]


def shared_types(a: pd.DataFrame, b: pd.DataFrame) -> tuple[str, ...]:
    """Distortion types labelled in both record frames (canonical names)."""
    ta = set(a["dist_type"].astype(str)) - {""}
    tb = set(b["dist_type"].astype(str)) - {""}
    return tuple(sorted(ta & tb))


def shared_type_plans(data: dict[str, pd.DataFrame]) -> list[CrossPlan]:
    """Both shared-type variants for every ordered pair (A, B) of datasets sharing a distortion type.

    Any two datasets qualify, synthetic or not (authentic datasets carry no type labels).
    """
    plans: list[CrossPlan] = []
    for a in data:
        for b in data:
            if a != b:
                types = shared_types(data[a], data[b])
                if types:
                    plans += [CrossPlan(SHARED_TEST_ONLY, (a,), b, types), CrossPlan(SHARED_BOTH, (a,), b, types)]
    return plans


def normalise_scores(records: pd.DataFrame, fit_on: pd.DataFrame | None = None) -> pd.DataFrame:
    """Scores turned to higher-is-better and min-max scaled to ``[0, 1]`` by ``fit_on``'s range.

    ``fit_on`` (default: ``records`` itself) is the dataset's training part.  This is the
    per-dataset linear rescaling of Bosse et al. 2018, Sec. IV-B, who invert TID2013's MOS
    and scale it (and CSIQ's DMOS) to the range of LIVE's DMOS; here every dataset goes to
    ``[0, 1]``, 1 = its best training image, so no dataset's score scale dominates a pool.
    """
    ref = records if fit_on is None else fit_on
    sign = np.where(ref["higher_better"].to_numpy(dtype=bool), 1.0, -1.0)
    t = ref["score"].to_numpy(dtype=float) * sign
    lo, hi = float(np.min(t)), float(np.max(t))
    out = records.copy()
    s = out["score"].to_numpy(dtype=float) * np.where(out["higher_better"].to_numpy(dtype=bool), 1.0, -1.0)
    out["score"] = (s - lo) / (hi - lo) if hi > lo else np.zeros_like(s)
    out["higher_better"] = True
    return out


def pool_training_sets(frames: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """One training set from several datasets' training parts (all of each for cross plans).

    With two or more datasets every dataset's scores are put on one scale first
    (:func:`normalise_scores`, fitted on that dataset's own part) and content ids become
    ``"<dataset>/<content>"``, so that TID2008's and TID2013's ``I01`` (or any two
    datasets' equal ids) are never grouped, split or ranked together.  A single dataset is
    returned unchanged.
    """
    if len(frames) == 1:
        return next(iter(frames.values())).reset_index(drop=True)
    parts = []
    for name, df in frames.items():
        d = normalise_scores(df)
        d["content"] = name + "/" + d["content"].astype(str)
        parts.append(d)
    return pd.concat(parts, ignore_index=True)
