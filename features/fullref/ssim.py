"""SSIM (Wang et al. 2004) and MS-SSIM (Wang, Simoncelli, Bovik 2003), as in Wang's MATLAB code.

References: Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image quality
assessment: from error visibility to structural similarity", IEEE TIP 13(4), 2004
(Eq. 13 SSIM, Eq. 17 MSSIM), release ``ssim.m`` (2009) / ``ssim_index.m`` (2003);
Z. Wang, E. P. Simoncelli, A. C. Bovik, "Multi-scale structural similarity for image
quality assessment", Asilomar 2003 (Eq. 7), release ``msssim.m``.
"""
from __future__ import annotations

import cv2
import numpy as np

from .._scratch import scratch
from .._threads import single_threaded_blas
from ..matlab import box_mean, gaussian_1d, round_half_away
from ._filters import prepare_pair
from .registry import register_metric

__all__ = ["ssim", "ms_ssim", "MS_SSIM_WEIGHTS"]

K1, K2, L = 0.01, 0.03, 255.0
C1, C2 = (K1 * L) ** 2, (K2 * L) ** 2
WINDOW = gaussian_1d(11, 1.5)                 # fspecial('gaussian', 11, 1.5), separable factor
MS_SSIM_WEIGHTS = np.array([0.0448, 0.2856, 0.3001, 0.2363, 0.1333])
MS_SSIM_MIN_SIZE = 11 * 2 ** (len(MS_SSIM_WEIGHTS) - 1)   # msssim.m: min(M,N)/2^(level-1) >= 11


_STRIP_ELEMENTS = 48_000   # map values per strip: a strip's dozen planes stay in L2


@single_threaded_blas
def _ssim_cs(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean SSIM and mean contrast-structure term over the 'valid' 11x11 windows.

    Eq. 13 with ``s1 + s2 = w*(x^2 + y^2) - mu1^2 - mu2^2``, so four filtered planes, not five::

        cs   = (2 (w*(x y) - mu1 mu2) + C2) / (w*(x^2 + y^2) - mu1^2 - mu2^2 + C2)
        ssim = (2 mu1 mu2 + C1) / (mu1^2 + mu2^2 + C1) * cs

    ``w*`` is ``filter2(window, ., 'valid')`` (:func:`features.matlab.filter2` conventions).
    The maps are computed in strips of rows (each strip's filters see the 10 rows below it, so
    the values do not depend on the strip height) in reused per-thread buffers, never whole;
    the element-wise steps are fused OpenCV calls.  uint8 planes are squared in float32, which
    is exact (``2 * 255^2 < 2^24``); filtering and everything after it is float64.
    """
    if x.dtype == np.uint8 and y.dtype == np.uint8:
        x, y = x.astype(np.float32), y.astype(np.float32)
    else:
        x, y = np.ascontiguousarray(x, dtype=np.float64), np.ascontiguousarray(y, dtype=np.float64)
    n = WINDOW.size
    width = x.shape[1]
    rows, cols = x.shape[0] - n + 1, width - n + 1
    strip = max(8, _STRIP_ELEMENTS // width)
    big = min(rows, strip) + n - 1                 # input rows of a strip
    sq, xy = scratch("ssim_sq", (big, width), x.dtype), scratch("ssim_xy", (big, width), x.dtype)
    f = [scratch(f"ssim_f{i}", (big, width)) for i in range(4)]
    w = [scratch(f"ssim_w{i}", (min(rows, strip), cols)) for i in range(4)]
    total_ssim = total_cs = 0.0
    for r0 in range(0, rows, strip):
        r = min(rows, r0 + strip) - r0
        xs, ys = x[r0:r0 + r + n - 1], y[r0:r0 + r + n - 1]
        sqs, xys = sq[:r + n - 1], xy[:r + n - 1]
        np.multiply(xs, xs, out=sqs)
        np.multiply(ys, ys, out=xys)
        sqs += xys
        np.multiply(xs, ys, out=xys)
        mu1, mu2, ss, s12 = (cv2.sepFilter2D(src, cv2.CV_64F, WINDOW, WINDOW, dst=dst[:r + n - 1], anchor=(0, 0),
                                             borderType=cv2.BORDER_CONSTANT)[:r, :cols]
                             for src, dst in zip((xs, ys, sqs, xys), f))
        mu12, musq, num, den = (b[:r] for b in w)
        cv2.multiply(mu1, mu2, dst=mu12)
        cv2.multiply(mu1, mu1, dst=musq)
        cv2.accumulateSquare(mu2, musq)                            # mu1^2 + mu2^2
        cv2.addWeighted(s12, 2.0, mu12, -2.0, C2, dst=num)         # 2 s12 + C2
        cv2.addWeighted(ss, 1.0, musq, -1.0, C2, dst=den)          # s1 + s2 + C2
        cv2.divide(num, den, dst=num)                              # cs map
        total_cs += float(num.sum())
        cv2.addWeighted(mu12, 2.0, mu12, 0.0, C1, dst=mu12)        # 2 mu1 mu2 + C1
        musq += C1
        cv2.divide(mu12, musq, dst=mu12)                           # luminance map
        total_ssim += float(np.dot(mu12.ravel(), num.ravel()))     # sum of the SSIM map
    return total_ssim / (rows * cols), total_cs / (rows * cols)


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
    x, y = pair.luminance_uint8()
    if downsample:
        f = int(max(1, round_half_away(min(x.shape) / 256.0)))
        if f > 1:
            x, y = box_mean(x, f, "symmetric", f), box_mean(y, f, "symmetric", f)
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
    x, y = pair.luminance_uint8()
    levels = len(MS_SSIM_WEIGHTS)
    mssim, mcs = np.empty(levels), np.empty(levels)
    for lev in range(levels):
        mssim[lev], mcs[lev] = _ssim_cs(x, y)
        if lev < levels - 1:
            x, y = box_mean(x, 2, "symmetric", 2), box_mean(y, 2, "symmetric", 2)
    terms = np.append(mcs[:-1], mssim[-1])
    if method == "wtd_sum":
        return float(np.sum(terms * (MS_SSIM_WEIGHTS / MS_SSIM_WEIGHTS.sum())))
    if np.all(terms >= 0):
        return float(np.prod(terms ** MS_SSIM_WEIGHTS))
    return float(np.real(np.prod(terms.astype(np.complex128) ** MS_SSIM_WEIGHTS)))


register_metric(
    "ssim", ssim, label="SSIM", higher_better=True, score_range=(-1.0, 1.0),
    paper="Wang, Bovik, Sheikh, Simoncelli, 'Image quality assessment: from error visibility to structural "
          "similarity', IEEE TIP 13(4), 2004, Eq. 13, 17",
    reference="Wang's ssim_index.m (no automatic downsampling), on rgb2gray")
register_metric(
    "ms_ssim", ms_ssim, label="MS-SSIM", higher_better=True, score_range=(0.0, 1.0),
    paper="Wang, Simoncelli, Bovik, 'Multi-scale structural similarity for image quality assessment', "
          "Asilomar 2003, Eq. 7",
    reference="Wang's msssim.m (method 'product'), on rgb2gray")
