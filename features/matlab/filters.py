"""MATLAB filtering look-alikes: ``fspecial('gaussian')``, ``hanning``, ``filter2``, ``imfilter``,
``conv2`` and the box average of ``imfilter(x, ones(m)/m^2, ...)``, computed with OpenCV.

Conventions (MATLAB names; 0-based indices below; ``m`` is a kernel side):

* ``'same'`` output ``i`` of a **correlation** (``filter2``, ``imfilter``) is
  ``sum_j h[j] x[i + j - (m-1)//2]``: the kernel centre is MATLAB's ``floor((m+1)/2)``, so
  for an even ``m`` the window lies *after* ``i``.  ``conv2(x, k, 'same')`` is the correlation
  with ``k`` rotated by 180 degrees, with the same anchor.  ``'valid'`` keeps the positions
  where the kernel fits; ``'full'`` pads with zeros by ``m - 1``.
* Boundaries: ``filter2`` / ``conv2`` and ``imfilter``'s default pad with **zeros**;
  ``imfilter(..., 'symmetric')`` mirrors *including* the edge sample (OpenCV
  ``BORDER_REFLECT``, numpy ``pad(mode="symmetric")``); ``'replicate'`` repeats it;
  ``'circular'`` wraps.
* A kernel is a 2-D array or a pair ``(column, row)`` of 1-D factors (a separable kernel,
  ``outer(column, row)``), which is filtered as two 1-D passes.
* Arithmetic is float64.  Integer input up to 16 bits is handed to OpenCV as float32 (exact),
  which OpenCV widens to float64 exactly as it would a float64 copy: same output bits, half
  the memory traffic.
"""
from __future__ import annotations

from typing import Sequence, Union

import cv2
import numpy as np

__all__ = [
    "fspecial_gaussian",
    "gaussian_1d",
    "hanning",
    "filter2",
    "imfilter",
    "conv2",
    "box_mean",
    "filter2_valid_separable",
    "BOUNDARIES",
]

Kernel = Union[np.ndarray, Sequence[np.ndarray]]

#: ``imfilter`` boundary options -> OpenCV border (``"circular"`` is padded explicitly).
BOUNDARIES = {"zero": cv2.BORDER_CONSTANT, "symmetric": cv2.BORDER_REFLECT, "replicate": cv2.BORDER_REPLICATE,
              "circular": None}
_NP_PAD = {"zero": "constant", "symmetric": "symmetric", "replicate": "edge", "circular": "wrap"}


def fspecial_gaussian(size: int | tuple[int, int] = 3, sigma: float = 0.5) -> np.ndarray:
    """MATLAB ``fspecial('gaussian', size, sigma)``: 2-D, taps below ``eps * max`` zeroed, sum 1."""
    rows, cols = (size, size) if np.isscalar(size) else size           # type: ignore[misc]
    y = np.arange(rows, dtype=np.float64) - (rows - 1) / 2.0
    x = np.arange(cols, dtype=np.float64) - (cols - 1) / 2.0
    h = np.exp(-(y[:, None] * y[:, None] + x[None, :] * x[None, :]) / (2.0 * sigma * sigma))
    h[h < np.finfo(np.float64).eps * h.max()] = 0.0
    s = h.sum()
    return h / s if s != 0 else h


def gaussian_1d(size: int, sigma: float) -> np.ndarray:
    """Separable factor ``g`` (sum 1) with ``outer(g, g) == fspecial('gaussian', size, sigma)``
    up to rounding (exactly so while no tap falls below MATLAB's ``eps * max`` cut, i.e. for
    every window used here)."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def hanning(n: int) -> np.ndarray:
    """MATLAB ``hanning(n)``: ``0.5 (1 - cos(2 pi k / (n + 1)))``, ``k = 1..n`` (no zero end points;
    ``numpy.hanning`` is MATLAB's ``hann``, which has them)."""
    k = np.arange(1, n + 1)
    return 0.5 * (1.0 - np.cos(2.0 * np.pi * k / (n + 1)))


def _as_cv_input(x: np.ndarray) -> np.ndarray:
    a = np.asarray(x)
    if a.ndim != 2:
        raise ValueError(f"expected a 2-D array, got shape {a.shape}")
    if a.dtype in (np.float64, np.float32):
        return np.ascontiguousarray(a)
    if a.dtype in (np.uint8, np.int8, np.uint16, np.int16, np.bool_):
        return a.astype(np.float32)                 # exact; OpenCV widens it to float64
    return np.ascontiguousarray(a, dtype=np.float64)


def _kernel(h: Kernel, conv: bool) -> tuple[np.ndarray | None, np.ndarray | None, np.ndarray | None, int, int]:
    """``(column, row, full_2d, m, n)``: the 1-D factors or the 2-D kernel, rotated for ``conv``."""
    if isinstance(h, (tuple, list)):
        col, row = (np.asarray(v, dtype=np.float64).ravel() for v in h)
        if conv:
            col, row = col[::-1], row[::-1]
        return np.ascontiguousarray(col), np.ascontiguousarray(row), None, col.size, row.size
    k = np.asarray(h, dtype=np.float64)
    if k.ndim == 1:
        k = k[None, :]
    if k.ndim != 2:
        raise ValueError(f"kernel must be 2-D or a (column, row) pair, got shape {k.shape}")
    if conv:
        k = k[::-1, ::-1]
    return None, None, np.ascontiguousarray(k), k.shape[0], k.shape[1]


def _correlate(x: np.ndarray, col, row, k2, anchor: tuple[int, int], border: int) -> np.ndarray:
    if k2 is None:
        return cv2.sepFilter2D(x, cv2.CV_64F, row, col, anchor=anchor, borderType=border)
    return cv2.filter2D(x, cv2.CV_64F, k2, anchor=anchor, borderType=border)


def filter2_valid_separable(image: np.ndarray, col: np.ndarray, row: np.ndarray) -> np.ndarray:
    """``filter2(outer(col, row), image, 'valid')`` with little call overhead, for hot loops.

    ``image``: 2-D float32/float64 (C-contiguous rows); ``col``, ``row``: contiguous float64
    1-D arrays (not checked).  Same output bits as :func:`filter2`.
    """
    out = cv2.sepFilter2D(image, cv2.CV_64F, row, col, anchor=(0, 0), borderType=cv2.BORDER_CONSTANT)
    return out[:image.shape[0] - col.size + 1, :image.shape[1] - row.size + 1]


def imfilter(image: np.ndarray, h: Kernel, boundary: str | int = 0, shape: str = "same", *,
             conv: bool = False) -> np.ndarray:
    """MATLAB ``imfilter(image, h, boundary, shape)`` (correlation; ``conv=True``: convolution).

    ``boundary``: ``0`` / ``"zero"``, ``"symmetric"``, ``"replicate"`` or ``"circular"``;
    ``shape``: ``"same"``, ``"valid"`` (no padding) or ``"full"``.  ``image`` is 2-D; the
    result is float64.
    """
    if boundary == 0:
        boundary = "zero"
    if boundary not in BOUNDARIES:
        raise ValueError(f"unknown boundary {boundary!r}; use 0, {sorted(BOUNDARIES)}")
    if shape not in ("same", "valid", "full"):
        raise ValueError(f"shape must be 'same', 'valid' or 'full', got {shape!r}")
    x = _as_cv_input(image)
    col, row, k2, m, n = _kernel(h, conv)
    hh, ww = x.shape
    if shape == "valid":
        if hh < m or ww < n:
            return np.zeros((max(hh - m + 1, 0), max(ww - n + 1, 0)))
        # anchor (0, 0): out[i] = sum_j h[j] x[i + j]; the first H-m+1 rows touch no border
        if k2 is None:
            return filter2_valid_separable(x, col, row)
        return _correlate(x, col, row, k2, (0, 0), cv2.BORDER_CONSTANT)[:hh - m + 1, :ww - n + 1]
    if shape == "full":
        x = np.pad(x, ((m - 1, m - 1), (n - 1, n - 1)))
        return imfilter(x, (col, row) if k2 is None else k2, "zero", "valid")
    a_r, a_c = (m - 1) // 2, (n - 1) // 2
    border = BOUNDARIES[boundary]
    if border is None or (boundary != "zero" and (m > hh or n > ww)):
        # explicit padding (wrap-around, or a mirror wider than the image)
        xp = np.pad(x, ((a_r, m - 1 - a_r), (a_c, n - 1 - a_c)), mode=_NP_PAD[boundary])
        return imfilter(xp, (col, row) if k2 is None else k2, "zero", "valid")
    return _correlate(x, col, row, k2, (a_c, a_r), border)


def filter2(h: Kernel, image: np.ndarray, shape: str = "same") -> np.ndarray:
    """MATLAB ``filter2(h, image, shape)``: correlation with zero padding."""
    return imfilter(image, h, "zero", shape)


def conv2(image: np.ndarray, k: Kernel, shape: str = "same") -> np.ndarray:
    """MATLAB ``conv2(image, k, shape)``: convolution with zero padding (``conv2(u, v, A)`` is
    ``conv2(A, (u, v))`` here)."""
    return imfilter(image, k, "zero", shape, conv=True)


def box_mean(image: np.ndarray, m: int, boundary: str = "symmetric", step: int = 1) -> np.ndarray:
    """``m x m`` average with MATLAB ``'same'`` alignment, then ``[::step, ::step]``.

    ``boundary="symmetric"`` is ``imfilter(x, ones(m)/m^2, 'symmetric', 'same')`` (``ssim.m``,
    ``msssim.m``); ``"zero"`` is ``conv2(x, ones(m)/m^2, 'same')`` (``GMSD.m``,
    ``FeatureSIM.m``).  Only the kept samples are computed; the ``m^2`` terms are summed in
    row-major window order and divided once (integer input: exact sums).
    """
    if boundary not in ("symmetric", "zero"):
        raise ValueError(f"box_mean boundary must be 'symmetric' or 'zero', got {boundary!r}")
    x = np.asarray(image)
    if m == 1:
        return x[::step, ::step].astype(np.float64, copy=True)
    h, w = x.shape
    before, after = (m - 1) // 2, m // 2
    oh, ow = -(-h // step), -(-w // step)
    # pad only when a kept window reaches past the image
    if before or (oh - 1) * step + m > h or (ow - 1) * step + m > w:
        x = np.pad(x, ((before, after), (before, after)), mode="symmetric" if boundary == "symmetric" else "constant")
    acc = np.zeros((oh, ow))
    for a in range(m):
        for b in range(m):
            acc += x[a:a + (oh - 1) * step + 1:step, b:b + (ow - 1) * step + 1:step]
    acc /= m * m
    return acc
