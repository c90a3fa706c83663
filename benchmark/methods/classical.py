"""Classical NR methods (suite ``"classical"``, group ``"NR hand-crafted"``).

Trained (features + SVR, :class:`~benchmark.methods.regression.FeatureSVR`, CV on the
training split only):

==========  ============================  ===================================================
name        label                         features
==========  ============================  ===================================================
brisque     BRISQUE                       :mod:`features.brisque` (36-D), RBF SVR
bliinds2    BLIINDS-II                    :mod:`features.bliinds2`, RBF SVR
diivine     DIIVINE                       :mod:`features.diivine`, RBF SVR
cues        Cues (S3+FISH+tone+colour)    :mod:`features.cues` (5-D), RBF SVR
cornia      CORNIA                        :class:`features.cornia.CorniaFeatures`, linear SVR
==========  ============================  ===================================================

Training-free (``fit`` does nothing; one cue is the score, higher = sharper / more colourful):
``s3`` (S3 index), ``fish`` (FISH), ``colourfulness`` (Hasler & Süsstrunk M3).
``niqe`` (NIQE, :mod:`features.niqe`; the release's pristine model, lower is better).

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

from typing import Callable

import numpy as np
import pandas as pd

from .base import MethodInfo, RunContext, register_method
from .regression import FeatureSVR

__all__ = ["CueScore", "NiqeScore", "CORNIA_CODEBOOK", "TRAINED", "CUE_METHODS"]

CORNIA_CODEBOOK = {"full": 10000, "quick": 1000}
CORNIA_CODEBOOK_PATCHES = {"full": 100_000, "quick": 20_000}

# name -> (extractor, label, paper, reference)
TRAINED: dict[str, tuple[str, str, str, str]] = {
    "brisque": ("brisque", "BRISQUE",
                "Mittal, Moorthy & Bovik, No-reference image quality assessment in the spatial domain, "
                "IEEE TIP 21(12), 2012",
                "LIVE BRISQUE release (brisque_feature.m); SVR retrained per split"),
    "bliinds2": ("bliinds2", "BLIINDS-II",
                 "Saad, Bovik & Charrier, Blind image quality assessment: a natural scene statistics approach "
                 "in the DCT domain, IEEE TIP 21(8), 2012",
                 "LIVE BLIINDS-II release; SVR retrained per split"),
    "diivine": ("diivine", "DIIVINE",
                "Moorthy & Bovik, Blind image quality assessment: from natural scene statistics to perceptual "
                "quality, IEEE TIP 20(12), 2011",
                "LIVE DIIVINE release; SVR retrained per split"),
    "cues": ("cues", "Cues (S3+FISH+tone+colour)",
             "Yang, Peltoketo & Kämäräinen, CNN-based cross-dataset no-reference image quality assessment, "
             "ICCVW 2019, Sec. 3.4 (quality attributes)",
             "s3_map.m (Vu et al. 2012), fish.m (Vu & Chandler 2012), Hasler & Süsstrunk 2003"),
}


def _feature_svr(extractor: str) -> Callable[[RunContext], FeatureSVR]:
    def factory(ctx: RunContext) -> FeatureSVR:
        from features.extraction import ImageFeatures

        feats = ImageFeatures(extractor, cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                              progress=ctx.progress)
        return FeatureSVR(features=feats, quick=ctx.quick)
    return factory


def _cornia(ctx: RunContext) -> FeatureSVR:
    from features.cornia import CorniaFeatures

    preset = "quick" if ctx.quick else "full"
    feats = CorniaFeatures(codebook_size=CORNIA_CODEBOOK[preset],
                           n_codebook_patches=CORNIA_CODEBOOK_PATCHES[preset], random_state=ctx.seed,
                           cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                           progress=ctx.progress)
    return FeatureSVR(features=feats, kernel="linear", quick=ctx.quick)


class CueScore:
    """A training-free NR score: one cue of :mod:`features.cues` per image (cached, parallel)."""

    def __init__(self, cue: str, cache_dir=True, n_jobs: int = 1, scheduler=None, progress: bool = False):
        self.cue = cue
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.progress = progress

    def fit(self, records: pd.DataFrame) -> "CueScore":
        return self

    def version_info(self) -> dict[str, str]:
        """The cue extractor's version (part of the predictions' key, :mod:`benchmark.versioning`)."""
        from features.extraction import get_extractor

        return {"extractor": f"cues:{get_extractor('cues').version}"}

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        from features.cues import FEATURE_NAMES
        from features.extraction import extract_features, get_extractor, paths_of

        # the whole cue vector is extracted (and cached once for every cue method and "cues")
        res = extract_features(paths_of(records), get_extractor("cues"), cache=self.cache_dir, n_jobs=self.n_jobs,
                               scheduler=self.scheduler, progress=self.progress, desc=self.cue)
        self.failures_ = dict(res.failures)
        if res.X.shape[1] == 0:
            return np.full(len(res.X), np.nan)
        return res.X[:, FEATURE_NAMES.index(self.cue)]


CUE_METHODS: dict[str, tuple[str, str]] = {
    "s3": ("S3", "Vu, Phan & Chandler, S3: a spectral and spatial measure of local perceived sharpness in "
                 "natural images, IEEE TIP 21(3), 2012 (index: mean of the top 1 % of the S3 map)"),
    "fish": ("FISH", "Vu & Chandler, A fast wavelet-based algorithm for global and local image sharpness "
                     "estimation, IEEE SPL 19(7), 2012"),
    "colourfulness": ("Colourfulness", "Hasler & Süsstrunk, Measuring colorfulness in natural images, "
                                       "SPIE HVEI VIII 5007, 2003 (M3)"),
}


def _cue(name: str) -> Callable[[RunContext], CueScore]:
    def factory(ctx: RunContext) -> CueScore:
        return CueScore(name, cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                        progress=ctx.progress)
    return factory


for _name, (_ext, _label, _paper, _ref) in TRAINED.items():
    register_method(MethodInfo(_name, _feature_svr(_ext), kind="NR", group="NR hand-crafted", suite="classical",
                               higher_better=True, trainable=True, label=_label, paper=_paper, reference=_ref,
                               description=f"{_label} features -> StandardScaler -> RBF SVR (CV on training "
                                           f"contents)"))

register_method(MethodInfo(
    "cornia", _cornia, kind="NR", group="NR hand-crafted", suite="classical", higher_better=True, trainable=True,
    label="CORNIA",
    paper="Ye, Kumar, Kang & Doermann, Unsupervised feature learning framework for no-reference image quality "
          "assessment, CVPR 2012",
    reference="cornia_feature.m (authors' release); codebook and whitening re-learned on each training split",
    description=f"CORNIA codebook features (K = {CORNIA_CODEBOOK['full']}, quick {CORNIA_CODEBOOK['quick']}) "
                f"-> StandardScaler -> linear SVR"))

for _name, (_label, _paper) in CUE_METHODS.items():
    register_method(MethodInfo(_name, _cue(_name), kind="NR", group="NR hand-crafted", suite="classical",
                               higher_better=True, trainable=False, label=_label, paper=_paper,
                               reference="features.cues (see its docstring for the release followed)",
                               description=f"training-free: the {_label} cue alone"))


class NiqeScore:
    """Training-free NIQE (:mod:`features.niqe`, the release's pristine model; lower is better), cached per image."""

    def __init__(self, cache_dir=True, n_jobs: int = 1, scheduler=None, progress: bool = False):
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.progress = progress

    def fit(self, records: pd.DataFrame) -> "NiqeScore":
        return self

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        import features.niqe  # noqa: F401  (registers the "niqe" extractor)
        from features.extraction import extract_features, paths_of

        res = extract_features(paths_of(records), "niqe", cache=self.cache_dir, n_jobs=self.n_jobs,
                               scheduler=self.scheduler, progress=self.progress, desc="niqe")
        self.failures_ = dict(res.failures)
        return res.X[:, 0] if res.X.shape[1] else np.full(len(res.X), np.nan)


register_method(MethodInfo(
    "niqe", lambda ctx: NiqeScore(cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs, scheduler=ctx.scheduler,
                                  progress=ctx.progress),
    kind="NR", group="NR hand-crafted", suite="classical", higher_better=False, trainable=False, label="NIQE",
    paper="Mittal, Soundararajan & Bovik, Making a 'completely blind' image quality analyzer, IEEE SPL 20(3), 2013",
    reference="niqe_release.zip (computequality.m) with its modelparameters.mat; features.niqe",
    description="training-free (opinion-unaware): distance of the image's 96x96-block NSS features to the "
                "release's pristine multivariate Gaussian"))
