"""Classical NR methods (suite ``"classical"``, group ``"NR hand-crafted"``), built from the
extractors' own metadata.

Every registered extractor (:data:`features.extraction.EXTRACTORS`, built-ins and plugins)
becomes benchmark rows as its registration declares (:class:`features.extraction.Extractor`):

* ``svr_kernel="rbf"``: a trained features + SVR method of the extractor's name
  (:class:`~benchmark.methods.regression.FeatureSVR`, CV on the training split only): ``brisque``
  (BRISQUE, 36-D), ``bliinds2`` (BLIINDS-II), ``diivine`` (DIIVINE), ``cues`` (5-D);
* each of its ``scores``: a training-free method reading one column of the vector: ``s3`` (S3
  index), ``fish`` (FISH), ``colourfulness`` (Hasler & Süsstrunk M3), higher = sharper / more
  colourful; ``niqe`` (NIQE, :mod:`features.niqe`, the release's pristine model, lower is better).

So a new hand-crafted method is one new module of ``features/`` (its extractor, registered with
its metadata) and its test: nothing here changes.

``cornia`` (CORNIA, :class:`features.cornia.CorniaFeatures`, linear SVR) is registered below:
its codebook is learned per training split, so it is a fitted transformer, not an extractor.
CORNIA codebook size (a documented choice): the paper's ``K = 10000`` in the full preset
(``CORNIA_CODEBOOK["full"]``), ``K = 1000`` in the quick preset.  Measured on one CPU core
of the (shared, busy) development machine with ``bench/bench_features.py``: encoding one
512x384 image (10000 patches) takes about 0.05 s at ``K = 1000`` and 0.45 s at
``K = 10000``; learning the k-means codebook (MiniBatchKMeans on 20k / 100k whitened
training patches) about 2 s / 60 s.  The paper's size is affordable for the benchmark's
datasets (2500 images: ~20 min of one core, and encodings are cached per codebook), so
the full preset stays faithful; the quick preset trades fidelity for a ~9x cheaper
encoding and 2000-D instead of 20000-D features (cache entries of 16 KB, not 160 KB).
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator

from features.cornia import METADATA as CORNIA
from features.extraction import EXTRACTORS, Extractor, Score
from features.registry import Origin

from .base import METHODS, MethodInfo, RunContext, register_method
from .regression import FeatureSVR

__all__ = ["ExtractorScore", "CORNIA_CODEBOOK", "CORNIA_CODEBOOK_PATCHES", "svr_method_info",
           "score_method_info"]

CORNIA_CODEBOOK = {"full": 10000, "quick": 1000}
CORNIA_CODEBOOK_PATCHES = {"full": 100_000, "quick": 20_000}


def _feature_svr(extractor: str, kernel: str) -> Callable[[RunContext], FeatureSVR]:
    def factory(ctx: RunContext) -> FeatureSVR:
        from features.extraction import ImageFeatures

        feats = ImageFeatures(extractor, cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                              progress=ctx.progress)
        return FeatureSVR(features=feats, kernel=kernel, quick=ctx.quick)

    factory.__name__ = f"build_{extractor}_svr"
    return factory


class ExtractorScore(BaseEstimator):
    """A training-free NR score: column ``column`` of extractor ``extractor``'s vector, per image
    (cached and parallel as every extraction; NaN plus ``failures_`` for an image that fails)."""

    def __init__(self, extractor: str, column: int = 0, cache_dir: Any = True, n_jobs: int = 1,
                 scheduler: Any = None, progress: bool = False):
        self.extractor = extractor
        self.column = column
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.progress = progress

    def fit(self, records: pd.DataFrame) -> "ExtractorScore":
        """Nothing to learn."""
        return self

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        from features.extraction import extract_features, get_extractor, paths_of

        # the whole vector is extracted (and cached once for every score and the SVR method)
        res = extract_features(paths_of(records), get_extractor(self.extractor), cache=self.cache_dir,
                               n_jobs=self.n_jobs, scheduler=self.scheduler, progress=self.progress,
                               desc=self.extractor)
        self.failures_ = dict(res.failures)
        if res.X.shape[1] == 0:
            return np.full(len(res.X), np.nan)
        return res.X[:, self.column]


def _score(extractor: str, column: int) -> Callable[[RunContext], ExtractorScore]:
    def factory(ctx: RunContext) -> ExtractorScore:
        return ExtractorScore(extractor, column, cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                              progress=ctx.progress)

    factory.__name__ = f"build_{extractor}_{column}"
    return factory


def svr_method_info(ext: Extractor) -> MethodInfo:
    """The features + SVR row of an extractor registered with ``svr_kernel``."""
    return MethodInfo(
        ext.name, _feature_svr(ext.name, ext.svr_kernel or "rbf"), kind="NR", group="NR hand-crafted",
        suite="classical", higher_better=True, trainable=True, label=ext.display, paper=ext.paper,
        reference=f"{ext.reference}; SVR retrained per split" if ext.reference else "SVR retrained per split",
        description=f"{ext.display} features{f' ({ext.description})' if ext.description else ''} -> "
                    f"StandardScaler -> {ext.svr_kernel or 'rbf'} SVR (CV on training contents)")


def score_method_info(ext: Extractor, score: Score) -> MethodInfo:
    """The training-free row of one of an extractor's ``scores``."""
    return MethodInfo(
        score.name, _score(ext.name, score.column), kind="NR", group="NR hand-crafted", suite="classical",
        higher_better=score.higher_better, trainable=False, label=score.label, paper=score.paper or ext.paper,
        reference=ext.reference or f"features extractor {ext.name!r}", score_range=score.score_range,
        description=score.description or f"training-free: the {score.label} value of the {ext.name} extractor")


def register_extractor_methods() -> None:
    """Methods for every extractor's declared rows that are not registered yet (built-ins and
    plugins); runs before every method lookup (``METHODS.add_source``)."""
    have = set(METHODS.names())
    todo = [(e, None) for e in EXTRACTORS.values() if e.svr_kernel] + \
           [(e, s) for e in EXTRACTORS.values() for s in e.scores]
    for ext, score in todo:
        name = ext.name if score is None else score.name
        if name in have:
            continue
        where = EXTRACTORS.where(ext.name)
        what = "features + SVR" if score is None else "training-free score"
        info = svr_method_info(ext) if score is None else score_method_info(ext, score)
        METHODS.register(name, info, origin=Origin(f"{where.text} ({what} of extractor {ext.name!r})", where.module))
        have.add(name)


METHODS.add_source(register_extractor_methods)


@register_method(CORNIA["name"], label=CORNIA["label"], kind="NR", group="NR hand-crafted", suite="classical",
                 higher_better=True, trainable=True, paper=CORNIA["paper"], reference=CORNIA["reference"],
                 description=f"CORNIA codebook features (K = {CORNIA_CODEBOOK['full']}, quick "
                             f"{CORNIA_CODEBOOK['quick']}) -> StandardScaler -> linear SVR")
def _cornia(ctx: RunContext) -> FeatureSVR:
    from features.cornia import CorniaFeatures

    preset = "quick" if ctx.quick else "full"
    feats = CorniaFeatures(codebook_size=CORNIA_CODEBOOK[preset],
                           n_codebook_patches=CORNIA_CODEBOOK_PATCHES[preset], random_state=ctx.seed,
                           cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                           progress=ctx.progress)
    return FeatureSVR(features=feats, kernel="linear", quick=ctx.quick)
