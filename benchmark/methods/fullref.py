"""Training-free full-reference metrics as benchmark methods (suite "fr", group "FR").

Each method scores a record's ``image`` against its ``ref`` with a function of
:mod:`features.fullref` (MATLAB-faithful PSNR, SSIM, MS-SSIM, FSIMc, GMSD, VIF).
``fit`` does nothing; ``predict`` loads one pair at a time with
:func:`features.imageio.load_image` (joblib processes when ``n_jobs > 1``).  A pair that
cannot be scored (unreadable file, no reference, mismatched sizes, too small, or a
metric undefined for it) is predicted as NaN with the reason in ``failures_``.
Predictions are in the metric's own direction (GMSD: lower is better) and deterministic.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pandas as pd

from .base import MethodInfo, RunContext, register_method

__all__ = ["FullReferenceMetric", "FR_METHODS", "score_pair"]

# name -> (label, higher_better, score_range, paper, reference release)
FR_METHODS: dict[str, tuple[str, bool, tuple[float, float] | None, str, str]] = {
    "psnr": ("PSNR", True, None,
             "Peak signal-to-noise ratio, 10 log10(255^2 / MSE) over the RGB channels",
             "scikit-image peak_signal_noise_ratio (IQA-PyTorch ResultsCalibra convention)"),
    "ssim": ("SSIM", True, (-1.0, 1.0),
             "Wang, Bovik, Sheikh, Simoncelli, 'Image quality assessment: from error visibility to structural "
             "similarity', IEEE TIP 13(4), 2004, Eq. 13, 17",
             "Wang's ssim_index.m (no automatic downsampling), on rgb2gray"),
    "ms_ssim": ("MS-SSIM", True, (0.0, 1.0),
                "Wang, Simoncelli, Bovik, 'Multi-scale structural similarity for image quality assessment', "
                "Asilomar 2003, Eq. 7",
                "Wang's msssim.m (method 'product'), on rgb2gray"),
    "fsimc": ("FSIMc", True, (0.0, 1.0),
              "Zhang, Zhang, Mou, Zhang, 'FSIM: a feature similarity index for image quality assessment', "
              "IEEE TIP 20(8), 2011 (FSIMc)",
              "Zhang's FeatureSIM.m (FSIMc output, automatic downsampling)"),
    "gmsd": ("GMSD", False, (0.0, 1.0),
             "Xue, Zhang, Mou, Bovik, 'Gradient magnitude similarity deviation: a highly efficient perceptual "
             "image quality index', IEEE TIP 23(2), 2014",
             "Xue's GMSD.m, on rgb2gray"),
    "vif": ("VIF", True, None,
            "Sheikh, Bovik, 'Image information and visual quality', IEEE TIP 15(2), 2006",
            "Sheikh's vifvec.m (steerable pyramid, vector GSM), on rgb2gray"),
}


def _metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    from features import fullref

    return fullref.METRICS[name][0]


def _named(exc: Exception, image: str, ref: str) -> str:
    """The reason of a failure, with array placeholders replaced by the file paths."""
    from features.imageio import ImageError

    if isinstance(exc, ImageError):
        src = exc.source
        if src == "<reference array>":
            src = ref
        elif src in ("<distorted array>", "<array>"):
            src = image
        elif src.startswith("<"):
            src = f"{image} (reference {ref})"
        return f"{src}: {exc.reason}"
    return f"{type(exc).__name__}: {exc}"


def score_pair(name: str, image: str, ref: str) -> tuple[float, str | None]:
    """``(score, None)`` or ``(nan, reason)`` for one distorted/reference file pair."""
    from features.imageio import load_image

    if not ref:
        return float("nan"), f"{image}: no reference image (a full-reference metric needs one)"
    try:
        value = float(_metric(name)(load_image(ref), load_image(image)))
    except Exception as exc:  # one bad pair must not stop the run
        return float("nan"), _named(exc, image, ref)
    if not np.isfinite(value):
        # only PSNR of identical images (+inf, the true value) reaches here
        return value, f"{image}: {name} is {value} (distorted image identical to its reference)"
    return value, None


class FullReferenceMetric:
    """A training-free FR metric following the method contract (``fit``/``predict``)."""

    def __init__(self, name: str, n_jobs: int = 1, progress: bool = False):
        if name not in FR_METHODS:
            raise KeyError(f"unknown full-reference metric {name!r}; known: {sorted(FR_METHODS)}")
        self.name = name
        self.n_jobs = n_jobs
        self.progress = progress
        self.failures_: dict[str, str] = {}

    def fit(self, records: pd.DataFrame | None = None) -> "FullReferenceMetric":
        """Nothing to learn."""
        return self

    def predict(self, records: pd.DataFrame) -> np.ndarray:
        """One score per record (metric's own direction); NaN + ``failures_`` for bad pairs."""
        images = [str(p) for p in records["image"]]
        refs = ["" if (r is None or (isinstance(r, float) and np.isnan(r))) else str(r) for r in records["ref"]]
        pairs = list(zip(images, refs))
        bar = None
        if self.progress and pairs:
            from tqdm.auto import tqdm

            bar = tqdm(total=len(pairs), desc=self.name, unit="img", leave=False)
        if self.n_jobs and self.n_jobs != 1 and len(pairs) > 1:
            from joblib import Parallel, delayed

            runner = Parallel(n_jobs=self.n_jobs, return_as="generator")
            outs = []
            for out in runner(delayed(score_pair)(self.name, img, ref) for img, ref in pairs):
                outs.append(out)
                if bar is not None:
                    bar.update()
        else:
            outs = []
            for img, ref in pairs:
                outs.append(score_pair(self.name, img, ref))
                if bar is not None:
                    bar.update()
        if bar is not None:
            bar.close()
        self.failures_ = {img: reason for (img, _), (_, reason) in zip(pairs, outs) if reason}
        return np.array([v for v, _ in outs], dtype=np.float64)

    def __repr__(self) -> str:
        return f"FullReferenceMetric({self.name!r}, n_jobs={self.n_jobs})"


def _factory(name: str) -> Callable[[RunContext], FullReferenceMetric]:
    def build(ctx: RunContext) -> FullReferenceMetric:
        return FullReferenceMetric(name, n_jobs=ctx.n_jobs, progress=ctx.progress)

    build.__name__ = f"build_{name}"
    return build


for _name, (_label, _hb, _range, _paper, _ref) in FR_METHODS.items():
    register_method(MethodInfo(
        name=_name, factory=_factory(_name), kind="FR", group="FR", suite="fr", higher_better=_hb,
        trainable=False, label=_label, paper=_paper, reference=_ref, score_range=_range,
        description=f"training-free full-reference {_label} (features.fullref)",
    ))
