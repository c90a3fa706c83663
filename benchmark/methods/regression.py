"""Features + SVR: the regression half shared by every feature-based method.

``FeatureSVR(features=...)`` is a scikit-learn regressor whose input is a records
DataFrame (or image paths): the ``features`` transformer turns images into a
matrix, then ``scaler + SVR`` is fitted with hyper-parameters chosen by grouped
cross-validation (``GroupKFold`` on the content ids) of the *training* records only
(no test image ever informs a hyper-parameter).  Images whose features fail are
dropped from training and predicted as NaN, with the reason in ``failures_``.

The search (:class:`SVRSearchCV`, protocol version :data:`SEARCH_VERSION`) scores the
same grid with the same folds and the same scorer as ``GridSearchCV`` over the
``scaler + SVR`` pipeline, but

* computes each fold's kernel once and shares it across the grid: one squared-distance
  matrix per fold, one ``exp`` per ``gamma`` (the linear Gram once per fold), then every
  ``C`` and ``epsilon`` is an ``SVR(kernel="precomputed")`` fit on it: libsvm looks
  kernel values up instead of evaluating them, so its kernel cache (``cache_size``, left
  at 200 MB) only saves row copies.  ``gamma="scale"`` is resolved per fold exactly as
  ``SVR`` does, ``1 / (n_features * X.var())`` of the fold's *scaled* training rows, and
  the final model keeps ``gamma="scale"`` (resolved by ``SVR`` on the whole training
  split, as before);
* from ``factor * min_resources`` = 3000 training images on, eliminates candidates by
  successive halving with scikit-learn's ``HalvingGridSearchCV`` schedule (``factor=3``,
  ``min_resources="exhaust"``, subsamples seeded by ``random_state``): at 10000 training
  images the 24-point grid is scored on 1111 images (a subsample of every fold), the
  best 8 on 3333, the best 3 on the full folds, and the best of the last round wins.
  Below 3000 it is the exhaustive grid, whose choice is ``GridSearchCV``'s.

The final model is sklearn's ``Pipeline([("scale", ...), ("svr", SVR(kernel=..., **best))])``
refitted on the whole training split, available as ``pipeline_`` (``Pipeline([("features",
...), ("regressor", ...)])``) for use outside the benchmark.
"""
from __future__ import annotations

import time
from math import ceil, floor, log
from typing import Any

import numpy as np
import pandas as pd
from joblib import Parallel, delayed, effective_n_jobs
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.metrics import mean_squared_error
from sklearn.model_selection import GroupKFold, KFold, ParameterGrid
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVR
from sklearn.utils import resample
from sklearn.utils.validation import check_is_fitted, column_or_1d, validate_data

from .base import training_target

__all__ = ["SEARCH_VERSION", "FeatureSVR", "LinearKernel", "SVRSearchCV", "svr_grid"]

#: Version of the hyper-parameter search: changes whenever a search can choose differently,
#: so saved predictions of ``FeatureSVR`` methods should be keyed by it.  "1": ``GridSearchCV``
#: over the pipeline; "2": :class:`SVRSearchCV` (kernels shared across the grid, successive
#: halving from 3000 training images).
SEARCH_VERSION = "2"


class LinearKernel(TransformerMixin, BaseEstimator):
    """``X -> X @ X_fit.T / n_features``: the linear Gram matrix against the fitted rows.

    Followed by ``SVR(kernel="precomputed")`` it is libsvm's linear-kernel epsilon-SVR on the
    features divided by ``sqrt(n_features)``, computed with one BLAS product instead of
    libsvm's per-pair dot products: the fast way for CORNIA's 20000-dimensional codes and a
    few thousand training images.  Dividing by ``n_features`` (as ``gamma="scale"`` does for
    the RBF kernel) keeps standardised features' self-similarity near 1 whatever their
    dimension, so one ``C`` grid fits 2000-D and 20000-D codes; without it every ``C`` of the
    grid left CORNIA's SVR unregularised (grouped-CV MSE of z-scored targets 1.4-2.8, worse
    than predicting the mean) and its quick row moved by 0.15-0.3 with the codebook.
    """

    def fit(self, X, y=None):
        self.X_fit_ = np.ascontiguousarray(validate_data(self, X, dtype=np.float64))
        return self

    def transform(self, X):
        check_is_fitted(self, "X_fit_")
        X = validate_data(self, X, dtype=np.float64, reset=False)
        return (X @ self.X_fit_.T) / max(1, self.X_fit_.shape[1])


def svr_grid(kernel: str = "rbf", quick: bool = False) -> dict[str, list]:
    """Hyper-parameter grid searched by :class:`FeatureSVR` (log-spaced C, gamma, epsilon)."""
    if kernel == "linear":   # C of the n_features-normalised kernel (see LinearKernel)
        return {"svr__C": [1e-3, 1e-2, 1e-1, 1.0, 10.0] if not quick else [1e-2, 1e-1, 1.0]}
    if quick:
        return {"svr__C": [1.0, 10.0], "svr__gamma": ["scale"], "svr__epsilon": [0.1]}
    return {
        "svr__C": [0.1, 1.0, 10.0, 100.0],
        "svr__gamma": ["scale", 0.01, 0.1],
        "svr__epsilon": [0.05, 0.1],
    }


def make_scaler(scaler: str):
    """``"standard"`` (z-score) or ``"minmax"`` (to [-1, 1], libsvm's ``svm-scale``)."""
    if scaler == "minmax":
        return MinMaxScaler(feature_range=(-1, 1))
    if scaler == "standard":
        return StandardScaler()
    raise ValueError(f"scaler must be 'standard' or 'minmax', not {scaler!r}")


def svr_pipeline(kernel: str = "rbf", scaler: str = "standard", **svr_params: Any) -> Pipeline:
    """The regressor that is fitted: ``scaler + SVR`` (``+ LinearKernel`` Gram for ``kernel="linear"``)."""
    if kernel == "linear":
        return Pipeline([("scale", make_scaler(scaler)), ("gram", LinearKernel()),
                         ("svr", SVR(kernel="precomputed", **svr_params))])
    return Pipeline([("scale", make_scaler(scaler)), ("svr", SVR(kernel=kernel, **svr_params))])


def _resolve_gamma(gamma: Any, Xs: np.ndarray) -> float:
    """``SVR``'s own rule (``sklearn.svm._base.BaseLibSVM.fit``) on the scaled training rows."""
    if gamma == "scale":
        var = Xs.var()
        return 1.0 / (Xs.shape[1] * var) if var != 0 else 1.0
    if gamma == "auto":
        return 1.0 / Xs.shape[1]
    return float(gamma)


def squared_distances(A: np.ndarray, B: np.ndarray | None = None) -> np.ndarray:
    """``||a_i - b_j||^2`` as libsvm's RBF computes it (``a.a + b.b - 2 a.b``), with one allocation.

    Like ``sklearn.metrics.pairwise.euclidean_distances(..., squared=True)`` (negative round-off
    clipped to 0, exact zeros on the diagonal of ``A`` against itself) without its temporaries:
    the matrix is rewritten in place.
    """
    same = B is None
    B = A if B is None else B
    D = A @ B.T
    D *= -2.0
    D += np.einsum("ij,ij->i", A, A)[:, None]
    D += np.einsum("ij,ij->i", B, B)[None, :]
    np.maximum(D, 0.0, out=D)
    if same:
        np.fill_diagonal(D, 0.0)
    return D


def _score_fold(X, z, train, val, candidates, kernel, scaler, max_kernel_bytes):
    """Negative MSE on ``val`` of every candidate trained on ``train``, and its fit + predict seconds.

    The kernel matrices (train x train, val x train) are computed once per ``gamma`` into two
    reused buffers beside the squared distances: ``4 * n_train * (n_train + n_val)`` doubles.
    """
    sc = make_scaler(scaler).fit(X[train])
    A, B = sc.transform(X[train]), sc.transform(X[val])
    zt, zv = z[train], z[val]
    scores = np.empty(len(candidates))
    seconds = np.empty(len(candidates))
    blocks: dict[Any, list[int]] = {}
    for i, c in enumerate(candidates):
        blocks.setdefault(c.get("gamma", "scale") if kernel == "rbf" else None, []).append(i)
    precompute = kernel == "linear" or 16 * len(train) * (len(train) + len(val)) <= max_kernel_bytes
    if kernel == "linear":     # LinearKernel's Gram: divided by the feature count
        d = max(1, A.shape[1])
        K, Kv = (A @ A.T) / d, (B @ A.T) / d
    elif kernel != "rbf":
        raise ValueError(f"kernel must be 'rbf' or 'linear', not {kernel!r}")
    elif precompute:
        D, Dv = squared_distances(A), squared_distances(B, A)
        K, Kv = np.empty_like(D), np.empty_like(Dv)
    for key, idx in blocks.items():
        if kernel == "rbf":
            g = _resolve_gamma(key, A)
            if precompute:
                np.multiply(D, -g, out=K)
                np.exp(K, out=K)
                np.multiply(Dv, -g, out=Kv)
                np.exp(Kv, out=Kv)
        for i in idx:
            params = {k: v for k, v in candidates[i].items() if k != "gamma"}
            t0 = time.perf_counter()
            if precompute:
                pred = SVR(kernel="precomputed", **params).fit(K, zt).predict(Kv)
            else:                                         # too large to hold: libsvm's own kernel
                pred = SVR(kernel="rbf", gamma=g, **params).fit(A, zt).predict(B)
            seconds[i] = time.perf_counter() - t0
            scores[i] = -mean_squared_error(zv, pred)
    return scores, seconds


class SVRSearchCV(BaseEstimator):
    """Cross-validated choice of SVR hyper-parameters with kernels shared across the grid.

    Scores ``scaler + SVR`` for every point of ``param_grid`` (keys ``svr__C``,
    ``svr__epsilon``, ``svr__gamma`` and any other ``svr__`` parameter of ``SVR``) by
    negative mean squared error on the folds of ``cv``, like
    ``GridSearchCV(svr_pipeline(kernel, scaler), param_grid, cv=cv,
    scoring="neg_mean_squared_error")``, and refits the best on all rows
    (``best_estimator_``, a ``Pipeline`` with sklearn's ``SVR``).

    Per fold the scaler is fitted on the fold's training rows, the kernel matrix is
    computed once per ``gamma`` (``exp(-gamma * ||a - b||^2)``, or the linear Gram) and
    every ``C``/``epsilon`` is an ``SVR(kernel="precomputed")`` fit on it.  The RBF needs
    ``16 * n_train * (n_train + n_val)`` bytes per fold (1.3 GB for a fold of 8000 + 2000
    rows).  ``max_kernel_mb`` bounds what the folds scored at once hold together
    (``n_jobs`` folds share it); a fold whose matrices exceed its share is fitted with
    libsvm's own RBF kernel instead (the same model up to round-off, slower; libsvm's kernel
    cache is ``SVR``'s ``cache_size``, 200 MB per fit).  So the search's memory stops growing
    with the training set at about ``max_kernel_mb`` plus ``n_jobs`` libsvm caches: with the
    default 512 MB and 2 jobs, kernels are precomputed for folds up to about 3660 + 915 rows
    (the halving rounds of a larger search still precompute on their subsamples).

    With ``halving=True`` candidates are eliminated by successive halving over the number
    of training rows, following ``HalvingGridSearchCV(factor=factor,
    min_resources="exhaust")`` (``resource="n_samples"``): round ``r`` scores the surviving
    candidates on ``n_r`` rows (a seeded ``random_state`` subsample of each fold's
    training and validation indices, the same fold assignment in every round), keeps the
    best ``ceil(k / factor)`` and the last round uses every row.  Rounds never use fewer
    than ``min_resources`` rows, so below ``factor * min_resources`` rows the search is
    the exhaustive grid.  Ties go to the earlier grid point (``ParameterGrid`` order), as
    in ``GridSearchCV``.

    Attributes: ``best_params_`` (pipeline keys, e.g. ``{"svr__C": 10.0, ...}``),
    ``best_score_``, ``best_index_``, ``best_estimator_``, ``cv_results_`` (``params``,
    ``iter``, ``n_resources``, ``mean_test_score``, ``std_test_score``,
    ``split<k>_test_score``, ``mean_fit_time``, ``rank_test_score``), ``n_resources_``,
    ``n_candidates_``, ``n_splits_``, ``refit_time_``.
    """

    def __init__(self, param_grid: dict | None = None, *, kernel: str = "rbf", scaler: str = "standard",
                 cv: Any = 5, halving: bool = True, factor: int = 3, min_resources: int = 1000,
                 random_state: int = 0, n_jobs: int | None = 1, max_kernel_mb: float = 512):
        self.param_grid = param_grid
        self.kernel = kernel
        self.scaler = scaler
        self.cv = cv
        self.halving = halving
        self.factor = factor
        self.min_resources = min_resources
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.max_kernel_mb = max_kernel_mb

    def _candidates(self) -> list[dict]:
        grid = self.param_grid if self.param_grid is not None else svr_grid(self.kernel)
        points = list(ParameterGrid(grid))
        for p in points:
            bad = [k for k in p if not k.startswith("svr__") or k == "svr__kernel"
                   or (k == "svr__gamma" and self.kernel == "linear")]
            if bad:
                raise ValueError(f"SVRSearchCV searches SVR parameters ('svr__C', 'svr__epsilon', "
                                 f"'svr__gamma', ...), not {bad}")
        return points

    def schedule(self, n_samples: int, n_candidates: int) -> list[int]:
        """Rows per round (``HalvingGridSearchCV``'s ``"exhaust"`` schedule; ``[n]`` = exhaustive)."""
        if not self.halving or n_candidates <= 1 or self.factor < 2:
            return [n_samples]
        required = 1 + floor(log(n_candidates, self.factor))
        smallest = max(int(self.min_resources), n_samples // self.factor ** (required - 1))
        if smallest >= n_samples:
            return [n_samples]
        possible = 1 + floor(log(n_samples // smallest, self.factor))
        rounds = min(possible, required)
        return [n_samples // self.factor ** (rounds - 1 - r) for r in range(rounds)]

    def fit(self, X, y, groups=None) -> SVRSearchCV:
        X = np.asarray(X, dtype=np.float64)
        y = np.asarray(y, dtype=np.float64)
        points = self._candidates()
        splitter = KFold(self.cv) if isinstance(self.cv, int) else self.cv
        folds = list(splitter.split(X, y, groups))
        self.n_splits_ = len(folds)
        budget = float(self.max_kernel_mb) * 2**20 / max(1, min(effective_n_jobs(self.n_jobs), len(folds)))
        n = len(y)
        alive = list(range(len(points)))
        rows: list[tuple[int, int, int, np.ndarray, float]] = []   # (round, n_rows, point, split scores, fit s)
        self.n_resources_, self.n_candidates_ = [], []
        for r, n_rows in enumerate(self.schedule(n, len(points))):
            self.n_resources_.append(n_rows)
            self.n_candidates_.append(len(alive))
            frac = n_rows / n
            sub = [(tr, va) if frac >= 1 else       # HalvingGridSearchCV's subsample (_SubsampleMetaSplitter)
                   (resample(tr, replace=False, n_samples=int(frac * len(tr)), random_state=self.random_state),
                    resample(va, replace=False, n_samples=int(frac * len(va)), random_state=self.random_state))
                   for tr, va in folds]
            cands = [{k[len("svr__"):]: v for k, v in points[i].items()} for i in alive]
            out = Parallel(n_jobs=self.n_jobs, prefer="threads")(
                delayed(_score_fold)(X, y, tr, va, cands, self.kernel, self.scaler, budget) for tr, va in sub)
            scores = np.column_stack([s for s, _ in out])
            fit_s = np.column_stack([t for _, t in out]).mean(axis=1)
            for j, i in enumerate(alive):
                rows.append((r, n_rows, i, scores[j], float(fit_s[j])))
            mean = scores.mean(axis=1)
            order = np.argsort(-mean, kind="stable")                # best first, ties: grid order
            alive = sorted(alive[j] for j in order[:ceil(len(alive) / self.factor)])
        self._results(rows, points)
        last = self.cv_results_["iter"] == self.cv_results_["iter"].max()
        idx = np.flatnonzero(last)
        self.best_index_ = int(idx[np.argmax(self.cv_results_["mean_test_score"][idx])])
        self.best_params_ = dict(self.cv_results_["params"][self.best_index_])
        self.best_score_ = float(self.cv_results_["mean_test_score"][self.best_index_])
        t0 = time.perf_counter()
        best = {k[len("svr__"):]: v for k, v in self.best_params_.items()}
        self.best_estimator_ = svr_pipeline(self.kernel, self.scaler, **best).fit(X, y)
        self.refit_time_ = time.perf_counter() - t0
        return self

    def _results(self, rows, points) -> None:
        res: dict[str, Any] = {
            "params": [points[i] for _, _, i, _, _ in rows],
            "iter": np.array([r for r, _, _, _, _ in rows]),
            "n_resources": np.array([m for _, m, _, _, _ in rows]),
            "mean_test_score": np.array([s.mean() for _, _, _, s, _ in rows]),
            "std_test_score": np.array([s.std() for _, _, _, s, _ in rows]),
            "mean_fit_time": np.array([t for _, _, _, _, t in rows]),
        }
        for k in range(self.n_splits_):
            res[f"split{k}_test_score"] = np.array([s[k] for _, _, _, s, _ in rows])
        for key in sorted({k for p in points for k in p}):
            res[f"param_{key}"] = np.array([p.get(key) for p in res["params"]], dtype=object)
        # rank 1 = the chosen one: later rounds first, then by score, ties by grid order
        order = sorted(range(len(rows)), key=lambda j: (-res["iter"][j], -res["mean_test_score"][j], rows[j][2]))
        rank = np.empty(len(rows), dtype=np.int32)
        rank[order] = np.arange(1, len(rows) + 1)
        res["rank_test_score"] = rank
        self.cv_results_ = res

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "best_estimator_")
        return self.best_estimator_.predict(X)


class FeatureSVR(RegressorMixin, BaseEstimator):
    """Image features -> scaler -> SVR, CV-tuned within the training split (grouped by content).

    Targets are standardised (z-scored) before the SVR so one grid fits every score scale;
    predictions are mapped back to the training score scale (higher is better).
    Hyper-parameters are chosen by :class:`SVRSearchCV` on ``GroupKFold(cv)`` folds of the
    content ids (``KFold`` when the records have no ``content``); ``halving=False`` makes
    it the exhaustive grid at every size, ``random_state`` seeds the halving subsamples,
    ``n_jobs`` folds are scored at once (threads; each holds its kernel matrices).
    """

    def __init__(self, features: Any = None, kernel: str = "rbf", param_grid: dict | None = None,
                 cv: int = 5, scaler: str = "standard", n_jobs: int = 1, quick: bool = False,
                 halving: bool = True, random_state: int = 0):
        self.features = features
        self.kernel = kernel
        self.param_grid = param_grid
        self.cv = cv
        self.scaler = scaler
        self.n_jobs = n_jobs
        self.quick = quick
        self.halving = halving
        self.random_state = random_state

    def search_grid(self) -> dict[str, list]:
        """The grid searched: ``param_grid``, else :func:`svr_grid` (part of the predictions' key)."""
        return self.param_grid if self.param_grid is not None else svr_grid(self.kernel, self.quick)

    def _regressor(self) -> Pipeline:
        return svr_pipeline(self.kernel, self.scaler)

    def _make_search(self, grid: dict, splitter: Any) -> SVRSearchCV:
        return SVRSearchCV(grid, kernel=self.kernel, scaler=self.scaler, cv=splitter, halving=self.halving,
                           random_state=self.random_state, n_jobs=self.n_jobs)

    def fit(self, records: pd.DataFrame, y: Any = None) -> FeatureSVR:
        self.features_ = clone(self.features)
        X = self.features_.fit_transform(records)
        target = training_target(records) if y is None else column_or_1d(y, warn=True).astype(np.float64)
        ok = np.all(np.isfinite(X), axis=1) & np.isfinite(target)
        self.failures_ = dict(getattr(self.features_, "failures_", {}))
        if hasattr(self.features_, "n_features_in_"):   # numeric input (a Pipeline does the same)
            self.n_features_in_ = self.features_.n_features_in_
        if ok.sum() < 3:
            raise ValueError(f"only {int(ok.sum())} training images gave features; failures: "
                             f"{list(self.failures_.items())[:5]}")
        X, target = X[ok], target[ok]
        self.y_mean_, self.y_std_ = float(target.mean()), float(target.std() or 1.0)
        z = (target - self.y_mean_) / self.y_std_
        groups = records["content"].to_numpy()[ok] if "content" in getattr(records, "columns", []) else None
        grid = self.search_grid()
        n_groups = len(np.unique(groups)) if groups is not None else len(z)
        folds = max(2, min(self.cv, n_groups))
        splitter = GroupKFold(n_splits=folds) if groups is not None else KFold(folds, shuffle=True, random_state=0)
        search = self._make_search(grid, splitter)
        search.fit(X, z, groups=groups)
        self.search_ = search
        self.best_params_ = search.best_params_
        self.regressor_ = search.best_estimator_
        self.pipeline_ = Pipeline([("features", self.features_), ("regressor", self.regressor_)])
        return self

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        check_is_fitted(self, "regressor_")
        self.features_.failures_ = {}  # report only this call's failures, not the training images'
        X = self.features_.transform(records)
        self.failures_ = dict(getattr(self.features_, "failures_", {}))
        out = np.full(X.shape[0], np.nan)
        ok = np.all(np.isfinite(X), axis=1)
        if ok.any():
            out[ok] = self.regressor_.predict(X[ok]) * self.y_std_ + self.y_mean_
        return out
