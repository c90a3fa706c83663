"""PSNR: ``10 log10(255^2 / MSE)`` over all pixels and channels."""
from __future__ import annotations

import cv2
import numpy as np

from ._filters import prepare_pair
from .registry import register_metric

__all__ = ["psnr"]


def psnr(ref: np.ndarray, dist: np.ndarray) -> float:
    """Peak signal-to-noise ratio in dB, ``10 log10(255^2 / MSE)``; ``inf`` for identical images.

    Conventions: the MSE is taken over every pixel of all three RGB channels (no colour
    conversion), data range 255.  This is what the calibration values use
    (IQA-PyTorch ResultsCalibra: scikit-image ``peak_signal_noise_ratio`` on RGB, TID2013),
    not PSNR on the Y channel.  Grey input: the one channel.  Symmetric in its arguments.
    Raises :class:`~features.imageio.ImageError` for mismatched sizes.
    """
    pair = prepare_pair(ref, dist)
    d = cv2.absdiff(pair.ref, pair.dist).astype(np.uint16)
    d *= d                                          # 255^2 fits in uint16
    mse = int(d.sum(dtype=np.uint64)) / d.size      # exact integer sum of squared errors
    if mse == 0.0:
        return float("inf")
    return float(10.0 * np.log10(255.0 ** 2 / mse))


register_metric(
    "psnr", psnr, label="PSNR", higher_better=True, score_range=None,
    paper="Peak signal-to-noise ratio, 10 log10(255^2 / MSE) over the RGB channels",
    reference="scikit-image peak_signal_noise_ratio (IQA-PyTorch ResultsCalibra convention)")
