"""An iqabench plugin: two NR methods of your own, in a file outside the package.

    python -m benchmark list --plugin examples/sharpness_plugin.py
    python -m benchmark run --plugin examples/sharpness_plugin.py --methods laplacian_sharpness laplacian_svr brisque \\
        --datasets synth --quick --out results/mine
    python -m benchmark tables --out results/mine     # no --plugin needed: the run saved each method's metadata

Installed as a package, the same module is found without ``--plugin`` through entry points
(``[project.entry-points."iqabench.methods"] laplacian_sharpness = "sharpness_plugin:LaplacianSharpness"``,
``laplacian_svr = "sharpness_plugin:laplacian_svr"``; see the README, "Add your own method").
"""
import cv2
import numpy as np

from benchmark.methods import RunContext, register_method
from benchmark.methods.regression import FeatureSVR
from features.extraction import ImageFeatures, extract_features, paths_of, register_extractor

LAPLACIAN = ("Pech-Pacheco, Cristobal, Chamorro-Martinez & Fernandez-Valdivia, Diatom autofocusing in "
             "brightfield microscopy: a comparative study, ICPR 2000 (variance of the Laplacian)")


@register_extractor("laplacian_stats", version="1", paper=LAPLACIAN)
def laplacian_stats(image: np.ndarray) -> np.ndarray:
    """[variance of the Laplacian, mean |Laplacian|, grey standard deviation] of an RGB uint8 image."""
    grey = cv2.cvtColor(image, cv2.COLOR_RGB2GRAY).astype(np.float64)
    lap = cv2.Laplacian(grey, cv2.CV_64F, ksize=3)
    return np.array([lap.var(), np.abs(lap).mean(), grey.std()])


@register_method("laplacian_sharpness", label="Laplacian sharpness", higher_better=True, version="1",
                 paper=LAPLACIAN)
class LaplacianSharpness:
    """Training-free: the variance of the Laplacian of the grey image (higher is sharper)."""

    def __init__(self, cache_dir=True, n_jobs=1):      # filled from the run (benchmark.methods.RunContext)
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs

    def fit(self, records):
        return self

    def predict(self, records):
        res = extract_features(paths_of(records), "laplacian_stats", cache=self.cache_dir, n_jobs=self.n_jobs)
        self.failures_ = res.failures                  # {image: reason} of the images predicted as NaN
        return res.X[:, 0] if res.X.shape[1] else np.full(len(records), np.nan)


@register_method("laplacian_svr", label="Laplacian stats + SVR", trainable=True, version="1", paper=LAPLACIAN)
def laplacian_svr(ctx: RunContext) -> FeatureSVR:
    """The three Laplacian statistics -> StandardScaler -> RBF SVR (the benchmark's own FeatureSVR)."""
    return FeatureSVR(features=ImageFeatures("laplacian_stats", cache_dir=ctx.cache_dir, n_jobs=ctx.n_jobs),
                      quick=ctx.quick)
