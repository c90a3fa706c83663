"""Golden values for the score-drift regression tests (``results/reference/``).

What is pinned:

* ``per_image_metrics.csv``: every training-free metric (FR metrics and the NR cues used
  alone) on a fixed image set: 21 ``synth`` images (the first source photo, every
  distortion at levels 1, 3 and 5, generated at the golden options below) and, when
  ``../shared`` is present, the 5 TID2013 calibration pairs.
* ``features_<extractor>.csv``: every registered feature extractor's vector on the same images.
* ``quick_table.csv``: the ``--quick`` suite's single-dataset table (median SROCC/PLCC per
  method) on ``synth``.

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
           "compute_features", "compute_quick_table", "update_goldens", "check_goldens"]

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
    "quick_srocc": 0.02,             # quick-suite medians: SVR grid search / CNN training on CPU
    "quick_plcc": 0.02,
}


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


def compute_quick_table(out_dir: Path, methods: Iterable[str] | None = None) -> pd.DataFrame:
    """The quick suite on synth: ``method, srocc_median, plcc_median`` (within-dataset)."""
    from .runner import RunConfig, run

    res = run(RunConfig(suite="all", datasets=["synth"], quick=True, out=str(out_dir), progress=False,
                        plots=False, methods=list(methods) if methods else None))
    s = res.summary
    s = s[s["plan"] == "within"]
    return s[["method", "srocc_median", "plcc_median"]].sort_values("method").reset_index(drop=True)


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

        g = pd.read_csv(ref / "quick_table.csv")
        with tempfile.TemporaryDirectory() as tmp:
            now_t = compute_quick_table(Path(tmp), list(g["method"]))
        problems += _compare_frames("quick table", g, now_t, "method", ["srocc_median"], TOLERANCES["quick_srocc"])
        problems += _compare_frames("quick table", g, now_t, "method", ["plcc_median"], TOLERANCES["quick_plcc"])
    return problems
