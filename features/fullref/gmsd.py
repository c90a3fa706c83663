"""GMSD (Xue, Zhang, Mou, Bovik 2014), as in the authors' ``GMSD.m``."""
from __future__ import annotations

import cv2
import numpy as np

from .._scratch import scratch
from ..matlab import box_mean, conv2
from ._filters import prepare_pair

__all__ = ["gmsd"]

T = 170.0                                           # GMSD.m constant c (for [0, 255] data)
PREWITT_X = np.array([[1.0, 0.0, -1.0]] * 3) / 3.0  # dx = [1 0 -1; 1 0 -1; 1 0 -1] / 3
PREWITT_Y = PREWITT_X.T.copy()


def _gradient_magnitude(img: np.ndarray) -> np.ndarray:
    gx, gy = conv2(img, PREWITT_X), conv2(img, PREWITT_Y)
    gx *= gx
    gy *= gy
    gx += gy
    return np.sqrt(gx, out=gx)


def _grad_sq(a: np.ndarray, tag: str) -> np.ndarray:
    """``144 (gx^2 + gy^2)`` of ``Y = conv2(a, ones(2)/4, 'same')(1:2:end, 1:2:end)`` (uint8 ``a``), float64.

    ``4 Y`` holds exact 2x2 sums (at most 1020) and ``12 gx``, ``12 gy`` are differences of
    3-pixel sums of them (Prewitt / 3, ``conv2 'same'``, zero padding; at most 3060 in
    magnitude): exact int16 arithmetic, squared in int32 (below ``2^25``).  The 3-sums and
    differences run over the flattened zero-bordered plane (contiguous, so vectorised); the two
    wrapped-around values per row land in the border columns, which are dropped.
    """
    h, w = a.shape
    h2, w2 = (h + 1) // 2, (w + 1) // 2
    wp = w2 + 2                                                 # padded width
    if w % 2:
        a = np.pad(a, ((0, 0), (0, 1)))                         # conv2 pads with zeros
    pairs = np.ascontiguousarray(a).view(np.uint16)             # two neighbouring columns per element
    cols = scratch(f"gmsd_cols{tag}", pairs.shape, np.uint16)
    np.bitwise_and(pairs, 0xFF, out=cols)
    cols += pairs >> 8                                          # column pair sums (either byte order)
    quad = scratch(f"gmsd_quad{tag}", (h2, w2), np.uint16)
    np.add(cols[0:2 * (h // 2):2], cols[1::2], out=quad[:h // 2])  # row pairs
    if h % 2:
        quad[-1] = cols[-1]
    p = scratch(f"gmsd_pad{tag}", (h2 + 2, wp), np.int16)       # 4 Y with a zero border
    p[0], p[-1], p[:, 0], p[:, -1] = 0, 0, 0, 0
    p[1:-1, 1:-1] = quad
    flat = p.ravel()
    n = h2 * wp
    v = np.add(flat[:n], flat[wp:wp + n], out=scratch(f"gmsd_v{tag}", (n,), np.int16))
    v += flat[2 * wp:]                                          # v[i, j] = p[i..i+2, j]
    hz = np.add(flat[:-2], flat[1:-1], out=scratch(f"gmsd_h{tag}", (flat.size - 2,), np.int16))
    hz += flat[2:]                                              # hz[i, j] = p[i, j..j+2]
    gx = np.subtract(v[2:], v[:-2], out=scratch(f"gmsd_gx{tag}", (n - 2,), np.int16))        # 12 gx at (i, j)
    gy = np.subtract(hz[2 * wp:], hz[:n - 2], out=scratch(f"gmsd_gy{tag}", (n - 2,), np.int16))  # 12 gy
    m = scratch(f"gmsd_m{tag}", (n,))                           # (i, j) at i * (w2 + 2) + j
    m.fill(0.0)
    cv2.accumulateSquare(np.abs(gx, out=gx).view(np.uint16), m[:n - 2])   # squares summed in float64: exact
    cv2.accumulateSquare(np.abs(gy, out=gy).view(np.uint16), m[:n - 2])
    return m


def _gms_uint8(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The GMS map of two uint8 planes, exact up to one square root and one division.

    With ``m = 144 g^2``: ``(2 g1 g2 + T) / (g1^2 + g2^2 + T) = (sqrt(4 m1 m2) + 144 T) / (m1 + m2 + 144 T)``;
    the integers ``4 m1 m2 < 2^53`` and ``m1 + m2`` are exact in float64.
    """
    h2, w2 = (a.shape[0] + 1) // 2, (a.shape[1] + 1) // 2
    m1, m2 = _grad_sq(a, "1"), _grad_sq(b, "2")
    num = cv2.multiply(m1, m2, dst=scratch("gmsd_num", m1.shape), scale=4.0)
    np.sqrt(num, out=num)
    num += 144.0 * T
    den = cv2.addWeighted(m1, 1.0, m2, 1.0, 144.0 * T, dst=m1)
    return cv2.divide(num.reshape(h2, w2 + 2)[:, :w2], den.reshape(h2, w2 + 2)[:, :w2])


def _std(x: np.ndarray) -> float:
    """``std2``: ``sqrt(sum((x - mean)^2) / (N - 1))`` (two passes)."""
    v = (x - x.sum() / x.size).ravel()
    return float(np.sqrt(np.einsum("i,i->", v, v) / (v.size - 1)))


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
