"""Golden values for the score-drift regression tests (``results/reference/``).

What is pinned:

* ``per_image_metrics.csv``: every training-free metric (FR metrics and the NR cues used
  alone) on a fixed image set: 21 ``synth`` images (the first source photo, every
  distortion at levels 1, 3 and 5, generated at the golden options below) and, when
  ``../shared`` is present, the 5 TID2013 calibration pairs.
* ``features_<extractor>.csv``: every registered feature extractor's vector on the same images.
* ``quick_table.csv``: the ``--quick`` suite's single-dataset table on ``synth`` (median
  SROCC/PLCC per method over its splits), as ``python -m benchmark run --suite all --quick``
  computes it without ``--weights`` (so without the ImageNet-backbone rows), with one torch
  thread and a fresh feature cache.

Tolerances (absolute; see :data:`TOLERANCES`) are stated per method and written beside the
values in ``tolerances.json``.  Regenerate deliberately with::

    python -m benchmark goldens --update      # then: git diff results/reference

and check without writing anything with ``python -m benchmark goldens``.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from .storage import atomic_to_csv, atomic_write_text

__all__ = ["REFERENCE_DIR", "GOLDEN_SYNTH", "TOLERANCES", "golden_images", "compute_per_image",
           "compute_features", "compute_quick_table", "compare_quick_table", "quick_tolerance", "update_goldens",
           "check_goldens"]

REFERENCE_DIR = Path(__file__).resolve().parents[1] / "results" / "reference"
GOLDEN_SYNTH = {"n_contents": 1, "size": 256}
GOLDEN_LEVELS = (1, 3, 5)
SHARED = Path(os.environ.get("IQABENCH_SHARED", Path(__file__).resolve().parents[2] / "shared"))

# Absolute tolerances.  Per-image values are deterministic on one platform; the margins
# absorb BLAS/FFT/libjpeg differences across machines, not algorithm changes.
TOLERANCES: dict[str, float] = {
    "default_metric": 1e-6,
    "psnr": 1e-6,
    "default_feature_rel": 1e-5,     # relative, per feature (plus 1e-8 absolute)
    # quick-suite medians (SROCC and PLCC), by kind of method:
    "quick_training_free": 1e-3,     # per-image values pinned above; margin for the logistic fit's budget
    "quick_svr": 0.01,               # SVR on features pinned to 1e-5: grid-search ties may flip
    "quick_cnn": 0.05,               # CNNs trained a few epochs on CPU: float-order differences grow
}


def quick_tolerance(method: str) -> float:
    """Absolute tolerance of one method's quick-table medians (see :data:`TOLERANCES`)."""
    from .methods.base import get_method_info

    info = get_method_info(method)
    if not info.trainable:
        return TOLERANCES["quick_training_free"]
    return TOLERANCES["quick_cnn" if info.suite == "deep" else "quick_svr"]


def golden_images(shared: Path | None = SHARED) -> pd.DataFrame:
    """The fixed image set: ``id, image, ref`` (ids are machine-independent)."""
    from .datasets import load_dataset

    rec = load_dataset("synth", **GOLDEN_SYNTH)
    first = sorted(rec["content"].unique())[0]
    rec = rec[(rec["content"] == first) & rec["dist_level"].isin(GOLDEN_LEVELS)]
    rows = [{"id": f"synth/{Path(p).name}", "image": p, "ref": r} for p, r in zip(rec["image"], rec["ref"])]
    cal = Path(shared) / "data" / "calibration" if shared else None
    if cal is not None and (cal / "dist_dir").is_dir():
        for p in sorted((cal / "dist_dir").glob("*.bmp")):
            rows.append({"id": f"calibration/{p.name}", "image": str(p), "ref": str(cal / "ref_dir" / p.name)})
    return pd.DataFrame(rows)


def _training_free():
    from .methods.base import list_methods

    return [m for m in list_methods("all") if not m.trainable]


def compute_per_image(images: pd.DataFrame, methods: Iterable[str] | None = None) -> pd.DataFrame:
    """``method, id, value`` for every training-free metric (NaN rows mean the image failed)."""
    from .datasets.base import make_records

    rec = make_records([{"image": i, "ref": r, "score": 0.0, "content": k}
                        for i, r, k in zip(images["image"], images["ref"], images["id"])], "golden")
    rows = []
    for info in _training_free():
        if methods is not None and info.name not in methods:
            continue
        from .methods.base import RunContext

        pred = info.factory(RunContext(cache_dir=None, progress=False)).fit(rec).predict(rec)
        rows += [{"method": info.name, "id": k, "value": float(v)} for k, v in zip(images["id"], pred)]
    return pd.DataFrame(rows, columns=["method", "id", "value"])


def compute_features(images: pd.DataFrame, extractors: Iterable[str] | None = None) -> dict[str, pd.DataFrame]:
    """One frame per registered extractor: ``id, f000, f001, ...``."""
    from features.extraction import extract_features, list_extractors

    out = {}
    for name in list_extractors():
        if extractors is not None and name not in extractors:
            continue
        res = extract_features(list(images["image"]), name, cache=False)
        df = pd.DataFrame(res.X, columns=[f"f{j:03d}" for j in range(res.X.shape[1])])
        df.insert(0, "id", list(images["id"]))
        out[name] = df
    return out


def compute_quick_table(out_dir: Path, methods: Iterable[str] | None = None, n_jobs: int = 2) -> pd.DataFrame:
    """The quick suite on synth: ``method, n_splits, srocc_median, plcc_median`` (within-dataset).

    Runs with a fresh feature cache under ``out_dir`` and one torch thread, so the numbers do
    not depend on what was cached before or on the core count (``n_jobs`` only parallelises
    feature extraction, which does not change any value).
    """
    from .runner import RunConfig, run

    torch = None
    try:
        import torch
    except ImportError:
        pass
    old = torch.get_num_threads() if torch is not None else None
    if torch is not None:
        torch.set_num_threads(1)
    try:
        res = run(RunConfig(suite="all", datasets=["synth"], quick=True, out=str(Path(out_dir) / "run"),
                            progress=False, plots=False, n_jobs=n_jobs, cache_dir=str(Path(out_dir) / "cache"),
                            device="cpu", methods=list(methods) if methods else None))
    finally:
        if torch is not None:
            torch.set_num_threads(old)
    s = res.summary
    s = s[s["plan"] == "within"]
    return s[["method", "n_splits", "srocc_median", "plcc_median"]].sort_values("method").reset_index(drop=True)


def compare_quick_table(golden: pd.DataFrame, now: pd.DataFrame) -> list[str]:
    """Drifts of the quick table beyond each method's tolerance (and rows that appeared/vanished)."""
    problems = []
    for name in sorted(set(now["method"]) - set(golden["method"])):
        problems.append(f"quick table: {name} is new (regenerate the goldens to pin it)")
    for m, g in golden.groupby("method"):
        problems += _compare_frames("quick table", g, now[now["method"] == m], "method",
                                    ["srocc_median", "plcc_median"], quick_tolerance(m))
    return problems


def update_goldens(reference: str | os.PathLike | None = None, quick_table: bool = True) -> Path:
    ref = Path(reference) if reference else REFERENCE_DIR
    ref.mkdir(parents=True, exist_ok=True)
    images = golden_images()
    atomic_to_csv(images[["id"]], ref / "images.csv")
    atomic_to_csv(compute_per_image(images), ref / "per_image_metrics.csv", float_format="%.10g")
    for name, df in compute_features(images).items():
        atomic_to_csv(df, ref / f"features_{name}.csv", float_format="%.10g")
    if quick_table:
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            atomic_to_csv(compute_quick_table(Path(tmp)), ref / "quick_table.csv", float_format="%.6f")
    atomic_write_text(ref / "tolerances.json", json.dumps(TOLERANCES, indent=1))
    return ref


def _compare_frames(name: str, golden: pd.DataFrame, now: pd.DataFrame, key: str, cols: list[str],
                    atol: float, rtol: float = 0.0) -> list[str]:
    problems = []
    g = golden.set_index(key)
    n = now.set_index(key)
    for k in g.index:
        if k not in n.index:
            problems.append(f"{name}: {k} missing now")
            continue
        a = g.loc[k, cols].to_numpy(dtype=float)
        b = n.loc[k, cols].to_numpy(dtype=float)
        if a.shape != b.shape:
            problems.append(f"{name}: {k}: length {a.shape} -> {b.shape}")
            continue
        both_nan = np.isnan(a) & np.isnan(b)
        bad = ~both_nan & ~(np.abs(a - b) <= atol + rtol * np.abs(a))
        if bad.any():
            j = int(np.flatnonzero(bad)[0])
            problems.append(f"{name}: {k}: {cols[j]} {a[j]:.8g} -> {b[j]:.8g} "
                            f"({int(bad.sum())} value(s) beyond tolerance)")
    return problems


def check_goldens(reference: str | os.PathLike | None = None, quick_table: bool = True) -> list[str]:
    """Recompute and compare; returns the list of drifts (empty when nothing moved)."""
    ref = Path(reference) if reference else REFERENCE_DIR
    if not (ref / "per_image_metrics.csv").exists():
        return [f"no golden values in {ref}: run `python -m benchmark goldens --update`"]
    images = golden_images()
    have = set(pd.read_csv(ref / "images.csv")["id"])
    images = images[images["id"].isin(have)]
    problems: list[str] = []
    golden = pd.read_csv(ref / "per_image_metrics.csv")
    now = compute_per_image(images, set(golden["method"]))
    for m, g in golden.groupby("method"):
        g = g[g["id"].isin(set(images["id"]))]
        problems += _compare_frames(m, g, now[now["method"] == m], "id", ["value"],
                                    TOLERANCES.get(m, TOLERANCES["default_metric"]))
    names = [p.stem[len("features_"):] for p in sorted(ref.glob("features_*.csv"))]
    feats = compute_features(images, names)
    for name in names:
        g = pd.read_csv(ref / f"features_{name}.csv")
        g = g[g["id"].isin(set(images["id"]))]
        cols = [c for c in g.columns if c != "id"]
        if name not in feats:
            problems.append(f"features {name}: extractor no longer registered")
            continue
        problems += _compare_frames(f"features {name}", g, feats[name], "id", cols, 1e-8,
                                    TOLERANCES["default_feature_rel"])
    if quick_table and (ref / "quick_table.csv").exists():
        import tempfile

        with tempfile.TemporaryDirectory() as tmp:
            now_t = compute_quick_table(Path(tmp))
        problems += compare_quick_table(pd.read_csv(ref / "quick_table.csv"), now_t)
    return problems
