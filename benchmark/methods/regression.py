"""Features + SVR: the regression half shared by every feature-based method.

``FeatureSVR(features=...)`` is a scikit-learn regressor whose input is a records
DataFrame (or image paths): the ``features`` transformer turns images into a
matrix, then ``StandardScaler + SVR`` is fitted with hyper-parameters chosen by
grid search with ``GroupKFold`` on the content ids of the *training* records only
(no test image ever informs a hyper-parameter).  Images whose features fail are
dropped from training and predicted as NaN, with the reason in ``failures_``.

The fitted pipeline is available as ``pipeline_`` (``Pipeline([("features", ...),
("regressor", best scaler+SVR)])``) for use outside the benchmark.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, RegressorMixin, TransformerMixin, clone
from sklearn.model_selection import GridSearchCV, GroupKFold, KFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import MinMaxScaler, StandardScaler
from sklearn.svm import SVR

from .base import training_target

__all__ = ["FeatureSVR", "LinearKernel", "svr_grid"]


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
        self.X_fit_ = np.ascontiguousarray(X, dtype=np.float64)
        return self

    def transform(self, X):
        return (np.asarray(X, dtype=np.float64) @ self.X_fit_.T) / max(1, self.X_fit_.shape[1])


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


class FeatureSVR(RegressorMixin, BaseEstimator):
    """Image features -> scaler -> SVR, CV-tuned within the training split (grouped by content).

    Targets are standardised (z-scored) before the SVR so one grid fits every score scale;
    predictions are mapped back to the training score scale (higher is better).
    """

    def __init__(self, features: Any = None, kernel: str = "rbf", param_grid: dict | None = None,
                 cv: int = 5, scaler: str = "standard", n_jobs: int = 1, quick: bool = False):
        self.features = features
        self.kernel = kernel
        self.param_grid = param_grid
        self.cv = cv
        self.scaler = scaler
        self.n_jobs = n_jobs
        self.quick = quick

    def search_grid(self) -> dict[str, list]:
        """The grid searched: ``param_grid``, else :func:`svr_grid` (part of the predictions' key)."""
        return self.param_grid if self.param_grid is not None else svr_grid(self.kernel, self.quick)

    def _regressor(self) -> Pipeline:
        scaler = MinMaxScaler(feature_range=(-1, 1)) if self.scaler == "minmax" else StandardScaler()
        if self.kernel == "linear":
            return Pipeline([("scale", scaler), ("gram", LinearKernel()), ("svr", SVR(kernel="precomputed"))])
        return Pipeline([("scale", scaler), ("svr", SVR(kernel=self.kernel))])

    def fit(self, records: pd.DataFrame, y: Any = None) -> "FeatureSVR":
        self.features_ = clone(self.features)
        X = self.features_.fit_transform(records)
        target = training_target(records) if y is None else np.asarray(y, dtype=np.float64)
        ok = np.all(np.isfinite(X), axis=1) & np.isfinite(target)
        self.failures_ = dict(getattr(self.features_, "failures_", {}))
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
        search = GridSearchCV(self._regressor(), grid, cv=splitter, scoring="neg_mean_squared_error",
                              n_jobs=self.n_jobs, error_score="raise")
        search.fit(X, z, groups=groups)
        self.search_ = search
        self.best_params_ = search.best_params_
        self.pipeline_ = Pipeline([("features", self.features_), ("regressor", search.best_estimator_)])
        return self

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        self.features_.failures_ = {}  # report only this call's failures, not the training images'
        X = self.features_.transform(records)
        self.failures_ = dict(getattr(self.features_, "failures_", {}))
        out = np.full(X.shape[0], np.nan)
        ok = np.all(np.isfinite(X), axis=1)
        if ok.any():
            out[ok] = self.search_.best_estimator_.predict(X[ok]) * self.y_std_ + self.y_mean_
        return out
