"""Shared helpers of the full-reference metrics: input checks, MATLAB-style colour
conversion and MATLAB-style filtering.

Boundary conventions reproduced here (MATLAB names, 0-based indices below):

* ``filter2(w, x, 'valid')``: correlation, only positions where the window fits
  (:func:`filter2_valid`, separable kernels only).
* ``imfilter(x, ones(m)/m^2, 'symmetric', 'same')`` and ``conv2(x, ones(m)/m^2, 'same')``:
  output ``i`` averages ``x[i - (m-1)//2 : i + m//2 + 1]`` (for even ``m`` the window
  lies *after* ``i``); ``imfilter`` mirrors the edge sample (``'symmetric'``), ``conv2``
  pads with zeros (:func:`box_mean_same`).
* ``conv2(x, k, 'same')`` with an odd kernel: true convolution, zero padding
  (:func:`conv2_same`).
* matlabPyrTools ``corrDn(x, f, 'reflect1', step, start)``: correlation with the
  edge sample not repeated (scipy ``mode='mirror'``), then subsampling
  (:func:`corr_dn`).
"""
from __future__ import annotations

import numpy as np

from ..imageio import GRAY_WEIGHTS, ImageError, as_rgb_uint8, check_min_size, check_same_size

__all__ = [
    "Pair",
    "prepare_pair",
    "matlab_rgb2gray",
    "matlab_round",
    "fspecial_gaussian",
    "filter2_valid",
    "box_mean_same",
    "conv2_same",
    "corr_dn",
]

REF, DIST = "<reference array>", "<distorted array>"


class Pair:
    """A validated reference/distorted pair: uint8 arrays, ``H x W`` (grey) or ``H x W x 3``."""

    __slots__ = ("ref", "dist", "grey")

    def __init__(self, ref: np.ndarray, dist: np.ndarray, grey: bool):
        self.ref, self.dist, self.grey = ref, dist, grey

    @property
    def shape(self) -> tuple[int, int]:
        return self.ref.shape[:2]

    def luminance(self) -> tuple[np.ndarray, np.ndarray]:
        """Float64 grey planes: the grey input itself, or MATLAB ``rgb2gray`` of uint8 RGB
        (rounded to integers, as MATLAB returns uint8 for uint8 input)."""
        if self.grey:
            return self.ref.astype(np.float64), self.dist.astype(np.float64)
        return matlab_rgb2gray(self.ref), matlab_rgb2gray(self.dist)


def _is_grey(arr: np.ndarray) -> bool:
    return arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1)


def prepare_pair(ref: np.ndarray, dist: np.ndarray, min_size: int = 1, what: str = "window") -> Pair:
    """Validate and normalise a pair (see :mod:`features.imageio` for accepted dtypes).

    Both grey -> grey pair; otherwise both become RGB (a grey one is replicated).
    Raises :class:`ImageError` for bad arrays, mismatched sizes, or images smaller than
    ``min_size x min_size`` (``what`` names the window/scale that needs it).
    """
    r, d = np.asarray(ref), np.asarray(dist)
    if _is_grey(r) and _is_grey(d):
        r8, d8 = _grey_uint8(r, REF), _grey_uint8(d, DIST)
    else:
        r8, d8 = as_rgb_uint8(r, REF), as_rgb_uint8(d, DIST)
    check_same_size(r8, d8, "<image pair>")
    check_min_size(r8, min_size, source=REF, what=what)
    return Pair(r8, d8, r8.ndim == 2)


def _grey_uint8(arr: np.ndarray, source: str) -> np.ndarray:
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint8:
        if arr.size == 0:
            raise ImageError(source, "empty image")
        return np.ascontiguousarray(arr)
    return np.ascontiguousarray(as_rgb_uint8(arr, source)[:, :, 0])


def matlab_round(x: np.ndarray) -> np.ndarray:
    """MATLAB ``round`` (halves away from zero) for non-negative arrays."""
    return np.floor(x + 0.5)


def matlab_rgb2gray(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of a uint8 RGB image: weighted sum, rounded (uint8 output), as float64."""
    return matlab_round(rgb.astype(np.float64) @ GRAY_WEIGHTS)


def fspecial_gaussian(size: int = 11, sigma: float = 1.5) -> np.ndarray:
    """1-D factor ``g`` of MATLAB ``fspecial('gaussian', size, sigma) == outer(g, g)``."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    g = np.exp(-(x * x) / (2.0 * sigma * sigma))
    return g / g.sum()


def filter2_valid(img: np.ndarray, g: np.ndarray) -> np.ndarray:
    """MATLAB ``filter2(outer(g, g), img, 'valid')`` (separable correlation, valid part)."""
    import cv2

    n = g.size
    h, w = img.shape
    if h < n or w < n:
        raise ValueError(f"image {h}x{w} smaller than the {n}x{n} window")
    out = cv2.sepFilter2D(np.ascontiguousarray(img, dtype=np.float64), cv2.CV_64F, g, g,
                          borderType=cv2.BORDER_REFLECT_101)
    # cv2 correlates around the kernel centre (g is symmetric anyway); the interior of
    # its 'same' output (no border sample touched) is MATLAB's 'valid' output.
    a = (n - 1) // 2
    return out[a:h - (n - 1 - a), a:w - (n - 1 - a)]


def box_mean_same(img: np.ndarray, m: int, mode: str, step: int = 1) -> np.ndarray:
    """``m x m`` average, MATLAB ``'same'`` alignment, optionally subsampled ``[::step, ::step]``.

    ``mode='symmetric'`` is ``imfilter(..., 'symmetric', 'same')``; ``mode='zero'`` is
    ``conv2(..., 'same')``.
    """
    if m == 1:
        return img[::step, ::step].astype(np.float64, copy=True)
    before, after = (m - 1) // 2, m // 2
    pad = ((before, after), (before, after))
    xp = np.pad(img.astype(np.float64), pad, mode="symmetric" if mode == "symmetric" else "constant")
    h, w = img.shape
    oh, ow = -(-h // step), -(-w // step)
    acc = np.zeros((oh, ow))
    for a in range(m):
        for b in range(m):
            acc += xp[a:a + (oh - 1) * step + 1:step, b:b + (ow - 1) * step + 1:step]
    return acc / (m * m)


def conv2_same(img: np.ndarray, kernel: np.ndarray) -> np.ndarray:
    """MATLAB ``conv2(img, kernel, 'same')`` for an odd-sized kernel (zero padding)."""
    import cv2

    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError("conv2_same needs an odd-sized kernel")
    # convolution = correlation with the flipped kernel; BORDER_CONSTANT pads with zeros
    flipped = np.ascontiguousarray(kernel[::-1, ::-1], dtype=np.float64)
    return cv2.filter2D(np.ascontiguousarray(img, dtype=np.float64), cv2.CV_64F, flipped,
                        borderType=cv2.BORDER_CONSTANT)


def corr_dn(img: np.ndarray, filt: np.ndarray, step: int = 1, start: int = 0) -> np.ndarray:
    """matlabPyrTools ``corrDn(img, filt, 'reflect1', [step step], [start+1 start+1])`` (odd filters)."""
    import cv2

    out = cv2.filter2D(np.ascontiguousarray(img, dtype=np.float64), cv2.CV_64F, np.asarray(filt, np.float64),
                       borderType=cv2.BORDER_REFLECT_101)   # correlation; reflect101 == 'reflect1'
    return out[start::step, start::step]


def raise_if_not_finite(value: float, reason: str) -> float:
    """Return ``value`` as float, or raise :class:`ImageError` naming the pair."""
    if not np.isfinite(value):
        raise ImageError("<image pair>", reason)
    return float(value)
