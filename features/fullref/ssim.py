"""SSIM (Wang et al. 2004) and MS-SSIM (Wang, Simoncelli, Bovik 2003), as in Wang's MATLAB code.

References: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004
(Eq. 13 SSIM, Eq. 17 MSSIM), release ``ssim.m`` (2009) / ``ssim_index.m`` (2003);
Z. Wang, E. P. Simoncelli, A. C. Bovik, "Multi-scale structural similarity for image
quality assessment", Asilomar 2003 (Eq. 7), release ``msssim.m``.
"""
from __future__ import annotations

import numpy as np

from ._filters import box_mean_same, filter2_valid, fspecial_gaussian, matlab_round, prepare_pair

__all__ = ["ssim", "ms_ssim", "MS_SSIM_WEIGHTS"]

K1, K2, L = 0.01, 0.03, 255.0
C1, C2 = (K1 * L) ** 2, (K2 * L) ** 2
WINDOW = fspecial_gaussian(11, 1.5)           # fspecial('gaussian', 11, 1.5), separable factor
MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
MS_SSIM_MIN_SIZE = 11 * 2 ** (len(MS_SSIM_WEIGHTS) - 1)   # msssim.m: min(M,N)/2^(level-1) >= 11


def _ssim_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term over the 'valid' 11x11 windows."""
    mu1, mu2 = filter2_valid(x, WINDOW), filter2_valid(y, WINDOW)
    mu1_sq, mu2_sq, mu12 = mu1 * mu1, mu2 * mu2, mu1 * mu2
    s1 = filter2_valid(x * x, WINDOW) - mu1_sq
    s2 = filter2_valid(y * y, WINDOW) - mu2_sq
    s12 = filter2_valid(x * y, WINDOW) - mu12
    cs_map = (2.0 * s12 + C2) / (s1 + s2 + C2)
    ssim_map = (2.0 * mu12 + C1) / (mu1_sq + mu2_sq + C1) * cs_map
    return float(ssim_map.mean()), float(cs_map.mean())


def ssim(ref: np.ndarray, dist: np.ndarray, downsample: bool = False) -> float:
    """Mean SSIM index (Wang et al. 2004, Eq. 13 and 17); 1 for identical images.

    Conventions (Wang's ``ssim_index.m`` / ``ssim.m``): RGB input -> MATLAB ``rgb2gray``
    (rounded to uint8, as the calibration values use); grey input used as is;
    ``L = 255``, ``K = (0.01, 0.03)``; 11x11 Gaussian window, sigma 1.5;
    ``filter2(..., 'valid')`` (no padding: the map is ``(H-10) x (W-10)``).

    ``downsample=True`` reproduces the automatic downsampling of ``ssim.m`` (2009):
    ``f = max(1, round(min(H, W) / 256))``, an ``f x f`` average
    (``imfilter(..., 'symmetric', 'same')``) and keeping every ``f``-th sample.  The
    default (``False``) is the 2003 ``ssim_index.m`` behaviour, which the calibration
    values (IQA-PyTorch ResultsCalibra, TID2013) use.  Symmetric in its arguments.

    Raises :class:`~features.imageio.ImageError` for mismatched sizes or images smaller
    than the 11x11 window.
    """
    pair = prepare_pair(ref, dist, 11, "SSIM window")
    x, y = pair.luminance()
    if downsample:
        f = int(max(1, matlab_round(min(x.shape) / 256.0)))
        if f > 1:
            x, y = box_mean_same(x, f, "symmetric", f), box_mean_same(y, f, "symmetric", f)
    return _ssim_cs(x, y)[0]


def ms_ssim(ref: np.ndarray, dist: np.ndarray, method: str = "product") -> float:
    """Multi-scale SSIM (Wang, Simoncelli, Bovik 2003), 5 scales; 1 for identical images.

    ``method="product"`` (default) is the paper's Eq. 7 and ``msssim.m``'s default:
    ``prod(cs_j ** w_j, j < 5) * ssim_5 ** w_5``.  ``method="wtd_sum"`` is ``msssim.m``'s
    other option, ``sum(cs_j * w_j, j < 5) + ssim_5 * w_5`` with ``w / sum(w)``: this is
    what the calibration row ``ms_ssim`` of IQA-PyTorch ResultsCalibra actually holds
    (reproduced to 4e-5; the product differs from it by up to 4.4e-3 on TID2013 pairs).

    Conventions (``msssim.m``): RGB -> MATLAB ``rgb2gray`` (rounded); ``L = 255``,
    ``K = (0.01, 0.03)``, 11x11 Gaussian window (sigma 1.5, 'valid'); between scales a
    2x2 average (``imfilter(..., 'symmetric', 'same')``) and ``(1:2:end, 1:2:end)``
    subsampling; weights ``(0.0448, 0.2856, 0.3001, 0.2363, 0.1333)``.  With the product,
    a negative mean cs or SSIM (very rare) gives MATLAB a complex value; the real part of
    that principal-branch value is returned.  Symmetric in its arguments.

    Raises :class:`~features.imageio.ImageError` for mismatched sizes or when
    ``min(H, W) / 16 < 11`` (``msssim.m`` returns ``-Inf`` there: the 11x11 window no
    longer fits the 5th scale), i.e. images smaller than 176x176.
    """
    if method not in ("product", "wtd_sum"):
        raise ValueError(f"method must be 'product' or 'wtd_sum', got {method!r}")
    pair = prepare_pair(ref, dist, MS_SSIM_MIN_SIZE, "MS-SSIM extent (11x11 window at the 5th scale)")
    x, y = pair.luminance()
    levels = len(MS_SSIM_WEIGHTS)
    mssim, mcs = np.empty(levels), np.empty(levels)
    for lev in range(levels):
        mssim[lev], mcs[lev] = _ssim_cs(x, y)
        if lev < levels - 1:
            x, y = box_mean_same(x, 2, "symmetric", 2), box_mean_same(y, 2, "symmetric", 2)
    terms = np.append(mcs[:-1], mssim[-1])
    if method == "wtd_sum":
        return float(np.sum(terms * (MS_SSIM_WEIGHTS / MS_SSIM_WEIGHTS.sum())))
    if np.all(terms >= 0):
        return float(np.prod(terms ** MS_SSIM_WEIGHTS))
    return float(np.real(np.prod(terms.astype(np.complex128) ** MS_SSIM_WEIGHTS)))
