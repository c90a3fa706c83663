"""Training-free full-reference metrics as benchmark methods (suite "fr", group "FR").

Each method scores a record's ``image`` against its ``ref`` with a metric of
:data:`features.fullref.FR_METRICS` (MATLAB-faithful PSNR, SSIM, MS-SSIM, FSIMc, GMSD, VIF, and
any plugin's): every registered FR metric is a method, whose name, label, direction, range,
paper, reference release and version are the metric's own metadata (declared once, in its module).
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
from sklearn.base import BaseEstimator

from features.fullref import FR_METRICS, FRMetric
from features.registry import Origin

from .base import METHODS, MethodInfo, RunContext

__all__ = ["FullReferenceMetric", "score_pair", "fr_method_info"]

def _metric(name: str) -> Callable[[np.ndarray, np.ndarray], float]:
    from features.fullref import get_metric

    return get_metric(name).func


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


class FullReferenceMetric(BaseEstimator):
    """A training-free FR metric following the method contract (``fit``/``predict``; a scikit-learn
    estimator, so ``get_params``/``clone`` work as for the trained methods)."""

    def __init__(self, name: str, n_jobs: int = 1, progress: bool = False):
        from features.fullref import get_metric

        get_metric(name)        # KeyError listing the known metrics
        self.name = name
        self.n_jobs = n_jobs
        self.progress = progress

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


def fr_method_info(metric: FRMetric) -> MethodInfo:
    """The benchmark row of a registered FR metric: every field from the metric's own metadata."""
    return MethodInfo(
        name=metric.name, factory=_factory(metric.name), kind="FR", group="FR", suite="fr",
        higher_better=metric.higher_better, trainable=False, label=metric.display, paper=metric.paper,
        reference=metric.reference, score_range=metric.score_range, version=metric.version,
        description=metric.description or f"training-free full-reference {metric.display} (features.fullref)")


def register_fr_methods() -> None:
    """A method for every FR metric of :data:`features.fullref.FR_METRICS` (built-ins and plugins)
    that has none yet; run before every method lookup (:mod:`benchmark.methods.base`)."""
    have = set(METHODS.names())
    for metric in FR_METRICS.values():
        if metric.name not in have:
            where = FR_METRICS.where(metric.name)
            METHODS.register(metric.name, fr_method_info(metric),
                             origin=Origin(f"{where.text} (full-reference metric {metric.name!r})", where.module))


METHODS.add_source(register_fr_methods)
