"""Can a feature set tell the distortions apart?  Distortion-type recognition.

DIIVINE's first stage (Moorthy & Bovik 2011) classifies the distortion before regressing
quality, and Bianco et al. (paper 003, final remarks and Fig. 4) argue that ImageNet CNN
features separate distortion types.  Here every feature set of the run (BRISQUE,
BLIINDS-II, DIIVINE, CORNIA, the cues, each CNN backbone's features) feeds a classifier of
the distortion type, on the run's own content-disjoint splits:

* classifier: ``StandardScaler`` + ``SVC`` (RBF, one-vs-one), ``C`` in {0.1, 1, 10, 100} chosen by
  ``GridSearchCV`` with ``GroupKFold`` over the *training* contents (accuracy), as the SVR
  hyper-parameters are (:class:`RBFSVCSearch`: ``GridSearchCV``'s choice and predictions, with each
  fold's kernel computed once by a matrix product and shared across ``C``); with ``--quick``,
  ``C = 10`` without a search;
* accuracy on each split's test images (mean over splits) and a confusion matrix summed
  over the splits; the "Majority class" row predicts the training split's most frequent type.

Multiply distorted labels (``a+b``) are classes of their own.  Datasets with fewer than two
types (authentic datasets have none) are skipped.

Each split's predictions are memoised in the feature cache (entry ``recognition/v<version>/<digest>``, the
SHA-256 of the feature matrix, labels, contents, split indices, preset, seed, scikit-learn release
and :data:`RECOGNITION_VERSION`), so a re-run over the same features (a cached re-run) trains no
classifier again.

Features are read from the feature cache only (``cache_only=True``, the default inside a run):
a feature set whose vectors the run did not cache is left out and named in the table notes,
so the analysis adds no extraction time.  CORNIA's features depend on the codebook learned on
each training split; its fitted state is read from the cache too.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import GroupKFold
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.svm import SVC
from sklearn.utils.validation import check_is_fitted

__all__ = ["C_GRID", "MAJORITY", "RECOGNITION_VERSION", "FeatureSet", "RBFSVCSearch", "cached_features",
           "feature_sets", "recognise", "recognition_frame"]

MAJORITY = "(majority)"
#: bump when the classifier or its inputs change (part of the memo key of each split's predictions)
RECOGNITION_VERSION = "2"   # "2": RBFSVCSearch (precomputed kernels) instead of GridSearchCV


@dataclass
class FeatureSet:
    """A run method's feature transformer (what its SVR saw)."""

    method: str
    label: str
    transformer: Any
    kind: str = ""            # "extractor", "cnn", "cornia"


def _kind(t: Any) -> str:
    name = type(t).__name__
    return {"ImageFeatures": "extractor", "CNNFeatures": "cnn", "CorniaFeatures": "cornia"}.get(name, "")


def feature_sets(method_names: Sequence[str], ctx: Any) -> tuple[list[FeatureSet], dict[str, str]]:
    """The feature transformers of the given registered methods (those built on features + SVR)."""
    from ..methods.base import get_method_info

    out, skipped = [], {}
    for name in method_names:
        try:
            info = get_method_info(name)
        except KeyError:
            continue
        if not info.trainable:
            continue
        try:
            est = info.factory(ctx)
        except Exception as exc:  # noqa: BLE001 - e.g. weights not found (the method failed in the run too)
            skipped[name] = f"{type(exc).__name__}: {exc}"
            continue
        t = getattr(est, "features", None)
        if t is not None and _kind(t):
            out.append(FeatureSet(name, info.display, t, _kind(t)))
    return out, skipped


def _cache_of(cache_dir: Any):
    from features.cache import FeatureCache, default_cache_dir

    if cache_dir is True:
        return FeatureCache(default_cache_dir())
    if cache_dir is None or cache_dir is False:
        return FeatureCache(None)
    return cache_dir if isinstance(cache_dir, FeatureCache) else FeatureCache(cache_dir)


def _lookup(cache, name: str, version: str, params: dict, paths: Sequence[str]) -> np.ndarray | None:
    rows = []
    for p in paths:
        try:
            v = cache.get(cache.key(name, version, params, p))
        except OSError:
            v = None
        rows.append(v)
    dims = {r.shape[0] for r in rows if r is not None}
    if len(dims) != 1:
        return None
    d = dims.pop()
    X = np.full((len(paths), d), np.nan)
    for i, r in enumerate(rows):
        if r is not None:
            X[i] = r
    return X


def cached_features(fs: FeatureSet, paths: Sequence[str], train_paths: Sequence[str] | None = None,
                    cache_only: bool = True, seed: int | None = None) -> np.ndarray | None:
    """Feature matrix of ``paths`` (NaN rows: not available); None when the set is not cached at all.

    ``train_paths``/``seed``: the training images and ``random_state`` a fitted transformer
    (CORNIA) was fitted with (the runner seeds each split's method with the split's seed).
    ``cache_only=False`` computes what is missing with the transformer itself.
    """
    t = fs.transformer
    if fs.kind == "cornia" and seed is not None:
        t = t.__class__(**{**t.get_params(), "random_state": int(seed)})
    if not cache_only:
        if fs.kind == "cornia":
            t = t.__class__(**t.get_params()).fit(list(train_paths or paths))
        return np.asarray(t.transform(list(paths)), dtype=float)
    cache = _cache_of(t.cache_dir)
    if not cache.enabled:
        return None
    try:
        if fs.kind == "extractor":
            from features.extraction import get_extractor

            ext = get_extractor(t.extractor)
            ext = ext.with_params(**t.params) if t.params else ext
            return _lookup(cache, ext.name, ext.version, ext.params, paths)
        if fs.kind == "cnn":
            from deep.features import CNN_FEATURES_VERSION

            return _lookup(cache, t.cache_name(), CNN_FEATURES_VERSION, t.cache_params(), paths)
        if fs.kind == "cornia":
            fitted = t.__class__(**t.get_params())
            state_cache, key = fitted._state_cache(list(train_paths or []))
            state = state_cache.get(key) if key is not None else None
            if state is None:
                return None
            fitted._set_state(state)
            ext = fitted.extractor_()
            return _lookup(cache, ext.name, ext.version, ext.params, paths)
    except (AttributeError, KeyError, ImportError, ValueError):
        return None
    return None


#: the ``C`` grid of the recognition SVC, chosen by grouped cross-validation on the training contents
C_GRID = (0.1, 1.0, 10.0, 100.0)


class RBFSVCSearch(ClassifierMixin, BaseEstimator):
    """``StandardScaler + SVC(kernel="rbf", gamma="scale")`` with ``C`` chosen by grouped CV (accuracy).

    Chooses what ``GridSearchCV(pipeline, {"svc__C": Cs}, cv=GroupKFold(cv), scoring="accuracy",
    error_score=np.nan)`` chooses (a fold whose training part has one class scores NaN; the best
    mean wins, ties to the earlier ``C``), and predicts what the refitted pipeline predicts, up to
    round-off: each fold's kernel is computed once, ``exp(-gamma ||a - b||^2)`` from one matrix
    product with ``gamma = 1 / (n_features * var)`` of the fold's scaled training rows as ``SVC``
    resolves ``"scale"``, and shared by every ``C`` (``SVC(kernel="precomputed")``).  libsvm's own
    RBF evaluates the kernel pair by pair for every fit, which on CORNIA's 20000-D codes made the
    recognition analysis minutes long.

    Attributes: ``best_params_`` (``{"C": ...}``), ``best_index_``, ``mean_test_score_`` (per ``C``),
    ``scaler_``, ``gamma_``, ``svc_``, ``classes_``.
    """

    def __init__(self, Cs: Sequence[float] = C_GRID, cv: int = 5, random_state: int = 0):
        self.Cs = Cs
        self.cv = cv
        self.random_state = random_state

    def _kernel(self, A: np.ndarray, B: np.ndarray | None, gamma: float) -> np.ndarray:
        from ..methods.regression import squared_distances

        K = squared_distances(A) if B is None else squared_distances(B, A)
        K *= -gamma
        return np.exp(K, out=K)

    def _svc(self, C: float) -> SVC:
        return SVC(kernel="precomputed", C=C, random_state=self.random_state)

    def fit(self, X, y, groups) -> RBFSVCSearch:
        from ..methods.regression import _resolve_gamma

        X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
        folds = list(GroupKFold(n_splits=self.cv).split(X, y, groups))
        scores = np.full((len(self.Cs), len(folds)), np.nan)
        for k, (tr, va) in enumerate(folds):
            if len(np.unique(y[tr])) < 2:          # SVC cannot fit: GridSearchCV's error_score=nan
                continue
            sc = StandardScaler().fit(X[tr])
            A, B = sc.transform(X[tr]), sc.transform(X[va])
            gamma = _resolve_gamma("scale", A)
            K, Kv = self._kernel(A, None, gamma), self._kernel(A, B, gamma)
            for i, C in enumerate(self.Cs):
                scores[i, k] = float(np.mean(self._svc(C).fit(K, y[tr]).predict(Kv) == y[va]))
        self.mean_test_score_ = scores.mean(axis=1)
        ranked = np.where(np.isnan(self.mean_test_score_), -np.inf, self.mean_test_score_)
        self.best_index_ = int(np.argmax(ranked))           # first of the best: GridSearchCV's rank order
        self.best_params_ = {"C": float(self.Cs[self.best_index_])}
        self.scaler_ = StandardScaler().fit(X)
        self.train_ = self.scaler_.transform(X)
        self.gamma_ = _resolve_gamma("scale", self.train_)
        self.svc_ = self._svc(self.best_params_["C"]).fit(self._kernel(self.train_, None, self.gamma_), y)
        self.classes_ = self.svc_.classes_
        return self

    def predict(self, X) -> np.ndarray:
        check_is_fitted(self, "svc_")
        B = self.scaler_.transform(np.asarray(X, dtype=np.float64))
        return self.svc_.predict(self._kernel(self.train_, B, self.gamma_))


def _classifier(groups: np.ndarray, quick: bool, seed: int):
    if quick:   # the --quick preset: C = 10 without a search (a run's analyses stay cheap)
        return Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf", gamma="scale", C=10.0,
                                                                   random_state=seed))])
    return RBFSVCSearch(C_GRID, cv=max(2, min(5, len(np.unique(groups)))), random_state=seed)


def recognise(X: np.ndarray, labels: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray,
              quick: bool = False, seed: int = 0) -> np.ndarray | None:
    """Predicted labels of the ``test`` rows (NaN feature rows dropped from training; NaN test rows
    predicted as ``""``); None when the training split has fewer than two types or contents."""
    ok = np.all(np.isfinite(X), axis=1)
    tr = train[ok[train]]
    if len(np.unique(labels[tr])) < 2 or len(np.unique(groups[tr])) < 2:
        return None
    clf = _classifier(groups[tr], quick, seed)
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")   # a CV fold missing a class
        if isinstance(clf, RBFSVCSearch):
            clf.fit(X[tr], labels[tr], groups=groups[tr])
        else:
            clf.fit(X[tr], labels[tr])
    out = np.full(len(test), "", dtype=object)
    te_ok = ok[test]
    if te_ok.any():
        out[te_ok] = clf.predict(X[test][te_ok])
    return out


def _memo_key(X: np.ndarray, labels: np.ndarray, groups: np.ndarray, train: np.ndarray, test: np.ndarray,
              quick: bool, seed: int) -> str:
    import hashlib

    import sklearn

    h = hashlib.sha256(f"{RECOGNITION_VERSION}|{sklearn.__version__}|{bool(quick)}|{int(seed)}|{X.shape}".encode())
    h.update(np.ascontiguousarray(X, dtype=np.float64).tobytes())
    for arr in (labels, groups):
        h.update("\x1f".join(map(str, arr)).encode())
    for idx in (train, test):
        h.update(np.ascontiguousarray(idx, dtype=np.int64).tobytes())
    return f"recognition/v{RECOGNITION_VERSION}/{h.hexdigest()}"


def recognise_memo(cache: Any, X: np.ndarray, labels: np.ndarray, groups: np.ndarray, train: np.ndarray,
                   test: np.ndarray, quick: bool = False, seed: int = 0) -> np.ndarray | None:
    """:func:`recognise`, its result read from / written to ``cache`` (a :class:`~features.cache.FeatureCache`;
    disabled: computed every time)."""
    if cache is None or not cache.enabled:
        return recognise(X, labels, groups, train, test, quick=quick, seed=seed)
    classes = np.array(sorted(set(map(str, labels))) + [""], dtype=object)
    key = _memo_key(X, labels, groups, train, test, quick, seed)
    try:
        hit = cache.get(key)
    except OSError:
        hit = None
    if hit is not None and len(hit) == len(test):
        return None if (len(hit) and hit[0] < 0) else classes[hit.astype(np.int64)]
    pred = recognise(X, labels, groups, train, test, quick=quick, seed=seed)
    code = (np.full(len(test), -1.0) if pred is None
            else np.searchsorted(classes[:-1], pred.astype(str)).astype(np.float64))
    if pred is not None:
        code[pred == ""] = len(classes) - 1
    try:
        cache.put(key, code)
    except OSError:
        pass
    return pred


@dataclass
class RecognitionResult:
    accuracy: pd.DataFrame                        # dataset, method, label, split, n_test, accuracy
    confusion: pd.DataFrame                       # dataset, method, true, predicted, count
    skipped: dict[tuple[str, str], str] = field(default_factory=dict)


def recognition_frame(datasets: dict[str, tuple[pd.DataFrame, list]], sets: list[FeatureSet], *,
                      quick: bool = False, seed: int = 0, cache_only: bool = True) -> RecognitionResult:
    """``datasets``: name -> (records, splits) (:class:`benchmark.protocol.Split` objects)."""
    acc_rows, conf_rows, skipped = [], [], {}
    for ds, (rec, splits) in datasets.items():
        labels = rec["dist_type"].astype(str).to_numpy()
        if (labels == "").any() or len(np.unique(labels)) < 2:
            continue
        paths = [str(p) for p in rec["image"]]
        groups = rec["content"].astype(str).to_numpy()
        for sp in splits:
            maj = pd.Series(labels[sp.train]).value_counts().index[0]
            pred = np.full(len(sp.test), maj, dtype=object)
            acc_rows.append({"dataset": ds, "method": MAJORITY, "label": "Majority class", "split": sp.name,
                             "n_test": len(sp.test), "accuracy": float(np.mean(pred == labels[sp.test]))})
            conf_rows += _confusion(ds, MAJORITY, labels[sp.test], pred)
        for fs in sets:
            memo = _cache_of(getattr(fs.transformer, "cache_dir", None))
            X_all = None if fs.kind == "cornia" else cached_features(fs, paths, cache_only=cache_only)
            if fs.kind != "cornia" and (X_all is None or not np.isfinite(X_all).all(axis=1).any()):
                skipped[(ds, fs.method)] = "features not in the cache"
                continue
            for sp in splits:
                X = X_all
                if fs.kind == "cornia":
                    X = cached_features(fs, paths, [paths[i] for i in sp.train], cache_only=cache_only,
                                        seed=sp.seed if sp.seed is not None else seed)
                    if X is None:
                        skipped[(ds, fs.method)] = "CORNIA codebook of a split not in the cache"
                        break
                pred = recognise_memo(memo, X, labels, groups, np.asarray(sp.train), np.asarray(sp.test),
                                      quick=quick, seed=seed)
                if pred is None:
                    continue
                acc_rows.append({"dataset": ds, "method": fs.method, "label": fs.label, "split": sp.name,
                                 "n_test": len(sp.test), "accuracy": float(np.mean(pred == labels[sp.test]))})
                conf_rows += _confusion(ds, fs.method, labels[sp.test], pred)
    acc = pd.DataFrame(acc_rows, columns=["dataset", "method", "label", "split", "n_test", "accuracy"])
    conf = pd.DataFrame(conf_rows, columns=["dataset", "method", "true", "predicted", "count"])
    if not conf.empty:
        conf = conf.groupby(["dataset", "method", "true", "predicted"], sort=False, as_index=False)["count"].sum()
    return RecognitionResult(acc, conf, skipped)


def _confusion(ds: str, method: str, true: np.ndarray, pred: np.ndarray) -> list[dict]:
    s = pd.DataFrame({"true": true, "predicted": pred}).value_counts()
    return [{"dataset": ds, "method": method, "true": t, "predicted": p, "count": int(c)} for (t, p), c in s.items()]
