"""GMSD (Xue, Zhang, Mou, Bovik 2014), as in the authors' ``GMSD.m``."""
from __future__ import annotations

import numpy as np

from ._filters import box_mean_same, conv2_same, prepare_pair

__all__ = ["gmsd"]

T = 170.0                                           # GMSD.m constant c (for [0, 255] data)
PREWITT_X = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0  # dx = [1 0 -1; 1 0 -1; 1 0 -1] / 3
PREWITT_Y = PREWITT_X.T.copy()


def _gradient_magnitude(img: np.ndarray) -> np.ndarray:
    gx, gy = conv2_same(img, PREWITT_X), conv2_same(img, PREWITT_Y)
    return np.sqrt(gx * gx + gy * gy)


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
    return gmsd_planes(*pair.luminance())


def gmsd_planes(y1: np.ndarray, y2: np.ndarray) -> float:
    """GMSD of two float64 grey planes on [0, 255] (no checks, no conversion)."""
    y1, y2 = box_mean_same(y1, 2, "zero", 2), box_mean_same(y2, 2, "zero", 2)
    g1, g2 = _gradient_magnitude(y1), _gradient_magnitude(y2)
    gms = (2.0 * g1 * g2 + T) / (g1 * g1 + g2 * g2 + T)
    return float(np.std(gms, ddof=1))
