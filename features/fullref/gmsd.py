"""GMSD (Xue, Zhang, Mou, Bovik 2014), as in the authors' ``GMSD.m``."""
from __future__ import annotations

import cv2
import numpy as np

from ..matlab import box_mean, conv2
from ._filters import prepare_pair
from .registry import register_metric

__all__ = ["gmsd"]

T = 170.0                                           # GMSD.m constant c (for [0, 255] data)
PREWITT_X = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0  # dx = [1 0 -1; 1 0 -1; 1 0 -1] / 3
PREWITT_Y = PREWITT_X.T.copy()
_PREWITT3 = np.array([[1.0, 0.0, -1.0]] * 3, dtype=np.float32)     # 3 x Prewitt (exact small integers)
_PREWITT3_T = np.ascontiguousarray(_PREWITT3.T)


def _gradient_magnitude(img: np.ndarray) -> np.ndarray:
    gx, gy = conv2(img, PREWITT_X), conv2(img, PREWITT_Y)
    gx *= gx
    gy *= gy
    gx += gy
    return np.sqrt(gx, out=gx)


def _grad_sq(a: np.ndarray) -> np.ndarray:
    """``9 (gx^2 + gy^2)`` of ``Y = conv2(a, ones(2)/4, 'same')(1:2:end, 1:2:end)`` for a uint8 plane.

    Every step is exact: ``Y`` holds quarters of integers (at most 255) and is computed as the
    2x2 means of a float32 copy (OpenCV ``INTER_AREA`` on an exact halving; a zero row/column
    pads odd sizes, as ``conv2``); ``3 gx``, ``3 gy`` are sums of six such values (float32,
    Prewitt with ``conv2 'same'`` zero padding; the sign of the correlation is irrelevant once
    squared); their squares are summed in float64.
    """
    h, w = a.shape
    if h % 2 or w % 2:
        a = np.pad(a, ((0, h % 2), (0, w % 2)))
    f = a.astype(np.float32)
    y = cv2.resize(f, (f.shape[1] // 2, f.shape[0] // 2), interpolation=cv2.INTER_AREA)
    gx = cv2.filter2D(y, cv2.CV_32F, _PREWITT3, borderType=cv2.BORDER_CONSTANT)
    gy = cv2.filter2D(y, cv2.CV_32F, _PREWITT3_T, borderType=cv2.BORDER_CONSTANT)
    m = cv2.multiply(gx, gx, dtype=cv2.CV_64F)
    cv2.accumulateSquare(gy, m)
    return m


def _gms_uint8(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The GMS map of two uint8 planes, exact up to one square root and one division.

    With ``m = 9 g^2`` (:func:`_grad_sq`, a multiple of 1/16 below ``2^21``)::

        (2 g1 g2 + T) / (g1^2 + g2^2 + T) = (sqrt(4 m1 m2) + 9 T) / (m1 + m2 + 9 T)

    where ``4 m1 m2`` and ``m1 + m2`` are exact in float64.
    """
    m1, m2 = _grad_sq(a), _grad_sq(b)
    num = cv2.multiply(m1, m2, scale=4.0)
    np.sqrt(num, out=num)
    num += 9.0 * T
    den = cv2.addWeighted(m1, 1.0, m2, 1.0, 9.0 * T, dst=m1)
    return cv2.divide(num, den, dst=num)


def _std(x: np.ndarray) -> float:
    """``std2``: ``sqrt(sum((x - mean)^2) / (N - 1))`` (two passes; OpenCV's double-precision
    sum of squares, not BLAS, so no thread pool is involved)."""
    d = x - x.sum() / x.size
    return float(np.sqrt(cv2.norm(d, cv2.NORM_L2SQR) / (d.size - 1)))


def gmsd(ref: np.ndarray, dist: np.ndarray) -> float:
    """Gradient magnitude similarity deviation (lower is better; 0 for identical images).

    Xue et al., "Gradient magnitude similarity deviation: a highly efficient perceptual
    image quality index", IEEE TIP 23(2), 2014: the gradient magnitude similarity (GMS)
    map ``(2 m_r m_d + c) / (m_r^2 + m_d^2 + c)`` pooled by its standard deviation.
    Conventions (``GMSD.m``): RGB -> MATLAB ``rgb2gray`` (rounded,
    as the calibration values use); ``conv2(Y, ones(2)/4, 'same')`` (zero padding) then
    ``(1:2:end, 1:2:end)`` subsampling; Prewitt filters divided by 3, ``conv2(..., 'same')``
    with zero padding; ``T = 170``; ``std2`` (N-1 normalisation).  Symmetric.

    Raises :class:`~features.imageio.ImageError` for mismatched sizes and for images
    smaller than 6x6 (the 3x3 Prewitt window after 2x downsampling).
    """
    pair = prepare_pair(ref, dist, 6, "GMSD window (3x3 after 2x downsampling)")
    return gmsd_planes(*pair.luminance_uint8())


def gmsd_planes(y1: np.ndarray, y2: np.ndarray) -> float:
    """GMSD of two grey planes on [0, 255] (uint8 or float; no checks, no conversion).

    uint8 planes take the exact integer path (:func:`_gms_uint8`); others are filtered in float64.
    """
    if y1.dtype == np.uint8 and y2.dtype == np.uint8:
        return _std(_gms_uint8(y1, y2))
    y1, y2 = box_mean(y1, 2, "zero", 2), box_mean(y2, 2, "zero", 2)
    g1, g2 = _gradient_magnitude(y1), _gradient_magnitude(y2)
    num = 2.0 * g1
    num *= g2
    num += T
    g1 *= g1
    g2 *= g2
    g1 += g2
    g1 += T
    num /= g1                                       # the GMS map
    return float(np.std(num, ddof=1))


register_metric(
    "gmsd", gmsd, label="GMSD", higher_better=False, score_range=(0.0, 1.0),
    paper="Xue, Zhang, Mou, Bovik, 'Gradient magnitude similarity deviation: a highly efficient perceptual "
          "image quality index', IEEE TIP 23(2), 2014",
    reference="Xue's GMSD.m, on rgb2gray")
