"""SVR hyper-parameter search: seconds per search before and after issue 19 (a benchmark, not a test).

*Before*: ``GridSearchCV`` over ``scaler + SVR(kernel="rbf")`` with today's grid
(``svr_grid()``: 4 C x 3 gamma x 2 epsilon), ``GroupKFold(5)`` on content ids,
``scoring="neg_mean_squared_error"``, refit on everything: what ``FeatureSVR`` did up to
``SEARCH_VERSION`` "1".  *After*: :class:`benchmark.methods.regression.SVRSearchCV` as
``FeatureSVR`` builds it now (shared precomputed kernels + successive halving), same
grid, folds and scorer, refit included.  Both single-threaded (``n_jobs=1``, BLAS limited
to one thread), interleaved (before, after, after, before, ...) in one process; the
median of ``--repeat`` runs per size of the wall time and of the process's CPU time (the
fairer measure on a shared machine: single-threaded work is not inflated by other
processes' load), and the ratios of medians.

Data: generated 36-D features (BRISQUE's size) for N images of N/5 contents (5 images
per content share a content offset, so the folds are grouped as for a synthetic-distortion
database) with a non-linear, noisy target (seed 0); the same rows for before and after.

``--biq2021`` also checks on BIQ2021-dev (``../shared/data/BIQ2021-dev``, official split
2000/500) that ``FeatureSVR`` gives the same test SROCC as before (target: within 0.005),
for each of ``--features`` (extractor names, cached under ``$IQABENCH_CACHE``; ``cnn``
= MobileNetV2 features of the ``cpu`` preset from ``../shared/weights``), with the
default search (at 2000 training images: the exhaustive grid) and with halving forced at
this size (3 rounds: 222, 666 and 2000 images; 2 rounds: 666 and 2000); ``--biq-splits K``
repeats the before / forced-halving comparison on K content-disjoint 80/20 splits::

    python bench/bench_svr.py [--sizes 2000 5000 10000] [--repeat 3]
    python bench/bench_svr.py --sizes --biq2021 --features brisque cues [--biq-splits 10]
"""
from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import time
from pathlib import Path

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("MKL_NUM_THREADS", "1")

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

SHARED = REPO.parent / "shared"


def generated_features(n: int, d: int = 36, per_content: int = 5, seed: int = 0):
    """(X, y, groups): n rows of d skewed, correlated features; y = smooth function + noise."""
    rng = np.random.default_rng(seed)
    groups = np.arange(n) // per_content
    mix = rng.normal(size=(d, d)) / np.sqrt(d)
    latent = rng.normal(size=(n, d)) + 0.5 * rng.normal(size=(groups[-1] + 1, d))[groups]
    X = latent @ mix * rng.uniform(0.1, 10.0, size=d) + rng.uniform(-5.0, 5.0, size=d)
    w = rng.normal(size=d)
    y = np.tanh(latent[:, :6].sum(axis=1) / 3) + 0.3 * np.sin(latent @ w / 4) + 0.3 * rng.normal(size=n)
    return X, (y - y.mean()) / y.std(), groups


def before_search(kernel: str = "rbf", grid: dict | None = None, cv=None):
    """The search of ``SEARCH_VERSION`` "1": ``GridSearchCV`` over the pipeline."""
    from sklearn.model_selection import GridSearchCV, GroupKFold

    from benchmark.methods.regression import svr_grid, svr_pipeline

    return GridSearchCV(svr_pipeline(kernel), grid or svr_grid(kernel), cv=cv or GroupKFold(5),
                        scoring="neg_mean_squared_error", error_score="raise")


def after_search(kernel: str = "rbf", grid: dict | None = None, cv=None, **options):
    from sklearn.model_selection import GroupKFold

    from benchmark.methods.regression import SVRSearchCV, svr_grid

    return SVRSearchCV(grid or svr_grid(kernel), kernel=kernel, cv=cv or GroupKFold(5), **options)


def _timed(search, X, y, groups) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of ``search.fit``."""
    t0, c0 = time.perf_counter(), time.process_time()
    search.fit(X, y, groups=groups)
    return time.perf_counter() - t0, time.process_time() - c0


def _short(params: dict) -> str:
    return ", ".join(f"{k.removeprefix('svr__')}={v}" for k, v in sorted(params.items()))


def timing(sizes: list[int], repeat: int) -> None:
    print("seconds per search (fit + refit): median wall and CPU time of this process; ratio = after / before")
    print(f"{'N':>6} {'before wall':>11} {'after wall':>10} {'ratio':>6} {'before CPU':>10} {'after CPU':>9} "
          f"{'ratio':>6}  rounds (rows)       chosen before | after")
    for n in sizes:
        X, y, groups = generated_features(n)
        runs: dict[str, list[tuple[float, float]]] = {"before": [], "after": []}
        chosen = {}
        for r in range(repeat):
            for which in ("before", "after") if r % 2 == 0 else ("after", "before"):
                search = before_search() if which == "before" else after_search()
                runs[which].append(_timed(search, X, y, groups))
                chosen[which] = search
            (bw, bc), (aw, ac) = runs["before"][-1], runs["after"][-1]
            print(f"  N={n} run {r + 1}: before {bw:.1f} s wall / {bc:.1f} s CPU, after {aw:.1f} s wall / "
                  f"{ac:.1f} s CPU", flush=True)
        bw, bc = (statistics.median(t[k] for t in runs["before"]) for k in (0, 1))
        aw, ac = (statistics.median(t[k] for t in runs["after"]) for k in (0, 1))
        print(f"{n:6d} {bw:11.1f} {aw:10.1f} {aw / bw:6.3f} {bc:10.1f} {ac:9.1f} {ac / bc:6.3f}  "
              f"{chosen['after'].n_resources_!s:18s}  {_short(chosen['before'].best_params_)} | "
              f"{_short(chosen['after'].best_params_)}", flush=True)


def _cnn_features(cache: Path):
    """MobileNetV2 features of the benchmark's ``cpu`` preset (what ``mobilenet_v2_svr`` uses on a CPU)."""
    from benchmark.methods.deep_transfer import FEATURE_PRESETS
    from deep.features import CNNFeatures

    weights = SHARED / "weights" / "mobilenet_v2-b0353104.pth"
    return CNNFeatures(arch="mobilenet_v2", weights=str(weights), seed=0, device="cpu", cache_dir=cache,
                       progress=False, **FEATURE_PRESETS["cpu"])


def biq2021_check(features: list[str], n_splits: int) -> None:
    from scipy.stats import spearmanr
    from sklearn.base import BaseEstimator, TransformerMixin

    from benchmark.datasets import load_dataset
    from benchmark.methods.regression import FeatureSVR
    from benchmark.protocol import content_splits
    from features.cache import default_cache_dir
    from features.extraction import ImageFeatures

    class BeforeSVR(FeatureSVR):
        def _make_search(self, grid, splitter):
            return before_search(self.kernel, grid, splitter)

    class ForcedHalvingSVR(FeatureSVR):
        """Halving at any size: ``min_resources=1`` gives rounds of n/9, n/3, n rows; n/3 gives n/3, n."""

        def __init__(self, features=None, min_resources=1):
            super().__init__(features=features)
            self.min_resources = min_resources

        def _make_search(self, grid, splitter):
            search = super()._make_search(grid, splitter)
            search.min_resources = self.min_resources
            return search

    class Lookup(TransformerMixin, BaseEstimator):
        """The rows of a feature matrix extracted once (through the cache), by image path."""

        def __init__(self, table=None):
            self.table = table

        def fit(self, records, y=None):
            return self

        def transform(self, records):
            return np.stack([self.table[p] for p in records["image"]])

    def run(model, train, test):
        t0 = time.process_time()
        model.fit(train)
        seconds = time.process_time() - t0
        return spearmanr(model.predict(test), test["score"]).statistic, seconds

    def variants(feats, n_train):
        return (("before (grid)", BeforeSVR(features=feats)),
                ("after (default)", FeatureSVR(features=feats)),
                ("after, 3 rounds", ForcedHalvingSVR(feats, 1)),
                ("after, 2 rounds", ForcedHalvingSVR(feats, n_train // 3)))

    records = load_dataset("biq2021", data_root=SHARED / "data")
    train = records[records.split == "train"].reset_index(drop=True)
    test = records[records.split == "test"].reset_index(drop=True)
    cache = default_cache_dir()
    print(f"\nBIQ2021-dev: {len(records)} images; feature cache {cache}; CPU seconds of the fit (features "
          f"extracted once); 'after (default)' is the exhaustive grid below 3000 training images, the "
          f"'rounds' rows force halving at this size")
    for name in features:
        extractor = _cnn_features(cache) if name == "cnn" else ImageFeatures(name, cache_dir=cache, progress=False)
        feats = Lookup(dict(zip(records["image"], extractor.fit_transform(records))))
        print(f"\n{name}, official split ({len(train)} train / {len(test)} test)")
        print(f"  {'search':16s} {'CPU s':>7s} {'SROCC':>7s} {'diff':>8s}  rounds (rows)       chosen")
        ref = None
        for label, model in variants(feats, len(train)):
            srocc, seconds = run(model, train, test)
            ref = srocc if ref is None else ref
            rounds = getattr(model.search_, "n_resources_", [len(train)])
            print(f"  {label:16s} {seconds:7.1f} {srocc:7.4f} {srocc - ref:+8.4f}  {rounds!s:18s}  "
                  f"{_short(model.best_params_)}", flush=True)
        if not n_splits:
            continue
        print(f"{name}, {n_splits} content-disjoint 80/20 splits of all {len(records)} images "
              f"(benchmark.protocol.content_splits): SROCC - SROCC before (same hyper-parameters: =)")
        diffs: dict[str, list[float]] = {}
        same: dict[str, int] = {}
        for split in content_splits(records, n_repeats=n_splits):
            tr, te = split.frames(records)
            line, ref, ref_params = [], None, None
            for label, model in variants(feats, len(tr)):
                if label == "after (default)":
                    continue                                   # the exhaustive grid: before's choice (tested)
                srocc, seconds = run(model, tr, te)
                if ref is None:
                    ref, ref_params = srocc, model.best_params_
                    line.append(f"before {srocc:.4f} ({seconds:.0f} s, {_short(model.best_params_)})")
                    continue
                diffs.setdefault(label, []).append(srocc - ref)
                same[label] = same.get(label, 0) + (model.best_params_ == ref_params)
                mark = "=" if model.best_params_ == ref_params else _short(model.best_params_)
                line.append(f"{label.removeprefix('after, ')} {srocc - ref:+.4f} ({seconds:.0f} s, {mark})")
            print(f"  {split.name}: " + "; ".join(line), flush=True)
        for label, d in diffs.items():
            print(f"{name} {label}: same hyper-parameters in {same[label]}/{n_splits} splits; SROCC diff max "
                  f"|{max(map(abs, d)):.4f}|, median {statistics.median(d):+.4f}", flush=True)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", type=int, nargs="*", default=[2000, 5000, 10000],
                    help="training-set sizes of the generated timing (none: skip it)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--biq2021", action="store_true", help="also the same-SROCC check on BIQ2021-dev")
    ap.add_argument("--features", nargs="+", default=["brisque", "cues"],
                    help="feature sets of the BIQ2021 check (extractor names, or 'cnn')")
    ap.add_argument("--biq-splits", type=int, default=0,
                    help="also this many random content-disjoint 80/20 splits in the BIQ2021 check")
    args = ap.parse_args(argv)

    import sklearn

    from benchmark.methods.regression import SEARCH_VERSION, svr_grid

    print(f"SVR search bench: scikit-learn {sklearn.__version__}, {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f} at start; n_jobs=1, "
          f"OPENBLAS_NUM_THREADS={os.environ['OPENBLAS_NUM_THREADS']}; SEARCH_VERSION {SEARCH_VERSION}; "
          f"grid {svr_grid()}; GroupKFold(5), 5 images per content; median of {args.repeat}, interleaved\n")
    if args.sizes:
        timing(args.sizes, args.repeat)
    if args.biq2021:
        biq2021_check(args.features, args.biq_splits)
    print(f"\nload average at end {os.getloadavg()[0]:.1f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
