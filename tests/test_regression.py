"""SVR hyper-parameter search (``SVRSearchCV``) and ``FeatureSVR``'s estimator API.

The exhaustive search must choose what ``GridSearchCV`` over ``scaler + SVR`` chooses (same
folds, same scores up to round-off), the halving search what ``HalvingGridSearchCV`` chooses;
both deterministic.  Speed is measured by ``bench/bench_svr.py``, not here.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.experimental import enable_halving_search_cv  # noqa: F401
from sklearn.model_selection import GridSearchCV, GroupKFold, HalvingGridSearchCV
from sklearn.preprocessing import FunctionTransformer
from sklearn.svm import SVR

from benchmark.methods.regression import (
    SEARCH_VERSION,
    FeatureSVR,
    SVRSearchCV,
    squared_distances,
    svr_grid,
    svr_pipeline,
)


def _problem(n: int = 150, d: int = 6, seed: int = 0):
    """Grouped regression problem (3 rows per content), features on very different scales."""
    rng = np.random.default_rng(seed)
    groups = np.arange(n) // 3
    latent = rng.normal(size=(n, d)) + 0.5 * rng.normal(size=(groups[-1] + 1, d))[groups]
    X = latent * rng.uniform(0.1, 20.0, size=d) + rng.uniform(-5, 5, size=d)
    y = np.tanh(latent[:, 0] + 0.5 * latent[:, 1] * latent[:, 2]) + 0.2 * rng.normal(size=n)
    return X, (y - y.mean()) / y.std(), groups


def _grid_search(kernel="rbf", scaler="standard", grid=None):
    return GridSearchCV(svr_pipeline(kernel, scaler), grid or svr_grid(kernel), cv=GroupKFold(5),
                        scoring="neg_mean_squared_error")


@pytest.mark.parametrize("kernel,scaler", [("rbf", "standard"), ("rbf", "minmax"), ("linear", "standard")])
def test_exhaustive_search_is_gridsearchcv(kernel, scaler):
    X, y, groups = _problem()
    X = np.column_stack([X, np.full(len(X), 3.0)])        # a constant column: X.var() != 1 after scaling
    ref = _grid_search(kernel, scaler).fit(X, y, groups=groups)
    new = SVRSearchCV(svr_grid(kernel), kernel=kernel, scaler=scaler, cv=GroupKFold(5), halving=False)
    new.fit(X, y, groups=groups)
    assert new.n_resources_ == [len(y)] and new.n_candidates_ == [len(ref.cv_results_["params"])]
    assert new.cv_results_["params"] == ref.cv_results_["params"]
    for key in ["mean_test_score"] + [f"split{k}_test_score" for k in range(5)]:
        np.testing.assert_allclose(new.cv_results_[key], ref.cv_results_[key], rtol=1e-9, atol=1e-12)
    assert new.best_params_ == ref.best_params_ and new.best_index_ == ref.best_index_
    assert new.best_score_ == pytest.approx(ref.best_score_, rel=1e-9)
    np.testing.assert_array_equal(np.argsort(new.cv_results_["rank_test_score"], kind="stable")[:1],
                                  [ref.best_index_])
    assert isinstance(new.best_estimator_.named_steps["svr"], SVR)
    np.testing.assert_allclose(new.predict(X), ref.predict(X), rtol=1e-12, atol=1e-12)


def test_gamma_scale_is_resolved_as_svr_does():
    X, y, _ = _problem()
    X = np.column_stack([X, np.zeros(len(X))])
    A = svr_pipeline().named_steps["scale"].fit_transform(X)
    svr = SVR(gamma="scale").fit(A, y)
    search = SVRSearchCV({"svr__C": [1.0], "svr__gamma": ["scale"]}, cv=GroupKFold(2), halving=False)
    from benchmark.methods.regression import _resolve_gamma

    assert _resolve_gamma("scale", A) == svr._gamma != 1.0 / A.shape[1]
    assert search.fit(X, y, groups=np.arange(len(y))).best_estimator_.named_steps["svr"].gamma == "scale"


def test_kernel_fallback_gives_the_same_scores():
    """Beyond ``max_kernel_mb`` the fits use libsvm's own RBF kernel: same choice, same scores."""
    X, y, groups = _problem()
    a = SVRSearchCV(cv=GroupKFold(5), halving=False).fit(X, y, groups=groups)
    b = SVRSearchCV(cv=GroupKFold(5), halving=False, max_kernel_mb=0).fit(X, y, groups=groups)
    np.testing.assert_allclose(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"], rtol=1e-9)
    assert a.best_params_ == b.best_params_


@pytest.mark.parametrize("n_jobs,precomputed", [(1, True), (2, False)])
def test_kernel_budget_is_shared_by_the_folds_scored_at_once(monkeypatch, n_jobs, precomputed):
    """``max_kernel_mb`` bounds all concurrent folds together, so memory stops growing with the rows."""
    import benchmark.methods.regression as regression

    X, y, groups = _problem()                   # 5 folds of 120 training + 30 validation rows
    one_fold_mb = 16 * 120 * 150 / 2**20        # 0.27 MB: fits a 0.4 MB budget alone, not half of it
    calls = []
    real = regression.squared_distances
    monkeypatch.setattr(regression, "squared_distances", lambda *a: calls.append(1) or real(*a))
    s = SVRSearchCV(cv=GroupKFold(5), halving=False, n_jobs=n_jobs, max_kernel_mb=1.5 * one_fold_mb)
    s.fit(X, y, groups=groups)
    assert bool(calls) is precomputed
    ref = SVRSearchCV(cv=GroupKFold(5), halving=False).fit(X, y, groups=groups)
    assert s.best_params_ == ref.best_params_
    assert SVRSearchCV().max_kernel_mb == 512


def test_squared_distances():
    rng = np.random.default_rng(1)
    A, B = rng.normal(size=(7, 4)), rng.normal(size=(5, 4))
    np.testing.assert_allclose(squared_distances(A, B), ((A[:, None] - B[None]) ** 2).sum(-1), atol=1e-12)
    D = squared_distances(A)
    assert np.all(np.diag(D) == 0) and np.all(D >= 0)


def test_halving_schedule_is_sklearns_exhaust():
    s = SVRSearchCV()                          # factor 3, at least 1000 rows per round
    assert s.schedule(10_000, 24) == [1111, 3333, 10_000]
    assert s.schedule(5000, 24) == [1666, 5000]
    assert s.schedule(2999, 24) == [2999]      # below factor * min_resources: the exhaustive grid
    assert s.schedule(20_000, 4) == [6666, 20_000]
    assert s.schedule(20_000, 2) == [20_000]   # the quick grid: nothing to eliminate
    assert SVRSearchCV(halving=False).schedule(10_000, 24) == [10_000]
    assert SVRSearchCV(min_resources=1).schedule(450, 24) == [50, 150, 450]


def test_halving_chooses_what_halvinggridsearchcv_chooses():
    """Same rounds, same subsamples, same surviving candidates and scores, same choice."""
    X, y, groups = _problem(n=450)     # (no tied scores at a cut: ties are broken in grid order, sklearn's by argsort)
    ref = HalvingGridSearchCV(svr_pipeline(), svr_grid(), cv=GroupKFold(5), scoring="neg_mean_squared_error",
                              factor=3, min_resources="exhaust", random_state=0).fit(X, y, groups=groups)
    new = SVRSearchCV(cv=GroupKFold(5), min_resources=1, random_state=0).fit(X, y, groups=groups)
    assert new.n_resources_ == ref.n_resources_ == [50, 150, 450]
    assert new.n_candidates_ == ref.n_candidates_ == [24, 8, 3]
    for r in range(3):
        mine = {str(p): s for p, s, i in zip(new.cv_results_["params"], new.cv_results_["mean_test_score"],
                                             new.cv_results_["iter"]) if i == r}
        theirs = {str(p): s for p, s, i in zip(ref.cv_results_["params"], ref.cv_results_["mean_test_score"],
                                               ref.cv_results_["iter"]) if i == r}
        assert mine.keys() == theirs.keys()
        # the subsampled rounds see the same rows in the same order: equal up to round-off.  In the
        # last round sklearn passes each fold's rows permuted (a "subsample" of fraction 1) and ours
        # in fold order, and libsvm's solution depends on row order within its tolerance (1e-3)
        rtol = 1e-9 if r < 2 else 1e-3
        np.testing.assert_allclose([mine[k] for k in mine], [theirs[k] for k in mine], rtol=rtol)
    assert new.best_params_ == ref.best_params_


def test_search_is_deterministic_and_seeded():
    X, y, groups = _problem(n=270)

    def fit(seed):
        return SVRSearchCV(cv=GroupKFold(5), min_resources=1, random_state=seed).fit(X, y, groups=groups)

    a, b, c = fit(0), fit(0), fit(1)
    np.testing.assert_array_equal(a.cv_results_["mean_test_score"], b.cv_results_["mean_test_score"])
    np.testing.assert_array_equal(a.predict(X), b.predict(X))
    assert not np.array_equal(a.cv_results_["mean_test_score"][:24], c.cv_results_["mean_test_score"][:24])


def test_bad_grid_keys_are_refused():
    X, y, groups = _problem(n=30)
    with pytest.raises(ValueError, match="scale__with_mean"):
        SVRSearchCV({"scale__with_mean": [True]}, cv=GroupKFold(2)).fit(X, y, groups=groups)
    with pytest.raises(ValueError, match="svr__gamma"):
        SVRSearchCV({"svr__gamma": [0.1]}, kernel="linear", cv=GroupKFold(2)).fit(X, y, groups=groups)


# ---- FeatureSVR: the estimator API over records -------------------------------------------------------------

def _columns(records: pd.DataFrame) -> np.ndarray:
    return records[[c for c in records.columns if c.startswith("f")]].to_numpy()


def _records(n: int = 90):
    X, y, groups = _problem(n=n)
    df = pd.DataFrame(X, columns=[f"f{i}" for i in range(X.shape[1])])
    df["score"], df["higher_better"], df["content"] = y * 10 + 50, True, [f"c{g}" for g in groups]
    return df


def test_featuresvr_estimator_api():
    model = FeatureSVR(features=FunctionTransformer(_columns), quick=True, n_jobs=1)
    params = model.get_params(deep=False)
    assert {"features", "kernel", "param_grid", "cv", "scaler", "n_jobs", "quick", "halving",
            "random_state"} <= set(params)
    twin = clone(model)
    assert twin.get_params(deep=False).keys() == params.keys() and twin.features is not model.features
    with pytest.raises(NotFittedError):
        model.predict(_records())
    rec = _records()
    pred = model.fit(rec).predict(rec)
    assert pred.shape == (len(rec),) and np.all(np.isfinite(pred))
    assert model.best_params_ == model.search_.best_params_ and model.search_.n_resources_ == [len(rec)]
    np.testing.assert_array_equal(clone(model).fit(rec).predict(rec), pred)   # deterministic
    assert model.pipeline_.predict(rec).shape == pred.shape


def test_featuresvr_search_matches_gridsearchcv_choice():
    """``FeatureSVR`` (z-scored targets, GroupKFold on contents) chooses what GridSearchCV chooses."""
    rec = _records(n=150)
    model = FeatureSVR(features=FunctionTransformer(_columns)).fit(rec)
    y = rec["score"].to_numpy()
    ref = _grid_search().fit(_columns(rec), (y - y.mean()) / y.std(), groups=rec["content"])
    assert model.best_params_ == ref.best_params_


def test_search_version():
    assert isinstance(SEARCH_VERSION, str) and SEARCH_VERSION != "1"
