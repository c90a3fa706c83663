"""Shared helpers of the full-reference metrics: input checks and the matlabPyrTools ``corrDn``.

The MATLAB look-alikes the metrics use (``rgb2gray``, ``fspecial('gaussian')``,
``filter2``/``imfilter``/``conv2`` padding, the box averages) live in :mod:`features.matlab`.
matlabPyrTools ``corrDn(x, f, 'reflect1', step, start)`` (:func:`corr_dn`) is correlation with
the edge sample not repeated (scipy ``mode='mirror'``), then subsampling.
"""
from __future__ import annotations

import numpy as np

from ..imageio import ImageError, as_rgb_uint8, check_min_size, check_same_size
from ..matlab import rgb2gray

__all__ = [
    "Pair",
    "prepare_pair",
    "corr_dn",
    "raise_if_not_finite",
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

    def luminance_uint8(self) -> tuple[np.ndarray, np.ndarray]:
        """``uint8`` grey planes: the grey input itself, or MATLAB ``rgb2gray`` of the uint8 RGB
        (:func:`features.matlab.rgb2gray`: rounded, as MATLAB returns uint8 for uint8 input)."""
        if self.grey:
            return self.ref, self.dist
        return rgb2gray(self.ref), rgb2gray(self.dist)

    def luminance(self) -> tuple[np.ndarray, np.ndarray]:
        """:meth:`luminance_uint8` as float64 planes on ``[0, 255]``."""
        a, b = self.luminance_uint8()
        return a.astype(np.float64), b.astype(np.float64)


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
