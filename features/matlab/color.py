"""MATLAB ``round`` and ``rgb2gray`` on ``uint8`` images (the rounded grey the releases read).

MATLAB's ``rgb2gray`` returns the class of its input: on a ``uint8`` RGB image the weighted
sum ``0.298936 R + 0.587043 G + 0.114021 B`` (:data:`features.imageio.GRAY_WEIGHTS`) is
rounded half away from zero to ``uint8``.  The BRISQUE, CORNIA, S3 and FISH releases and
Wang's / Xue's FR metrics are run on that rounded grey (``double(rgb2gray(I))``); DIIVINE,
BLIINDS-II and the tone cue take the unrounded float grey of
:func:`features.imageio.rgb_to_gray` instead.
"""
from __future__ import annotations

import numpy as np

from ..imageio import GRAY_WEIGHTS, as_rgb_uint8, rgb_to_gray

__all__ = ["round_half_away", "rgb2gray", "gray_double"]


def round_half_away(x: np.ndarray | float) -> np.ndarray:
    """MATLAB ``round``: to the nearest integer, halves away from zero (``numpy.round`` rounds
    halves to even).  Exact for every float64 (no ``floor(x + 0.5)`` double rounding)."""
    a = np.asarray(x, dtype=np.float64)
    t = np.trunc(a)
    return t + np.copysign(np.abs(a - t) >= 0.5, a)


def rgb2gray(rgb: np.ndarray) -> np.ndarray:
    """MATLAB ``rgb2gray`` of an ``H x W x 3`` ``uint8`` image: ``uint8``, rounded half away.

    The weighted sum is non-negative and at most 255, so ``floor(s + 0.5)`` is MATLAB's
    rounding here; it equals :func:`round_half_away` on all 2^24 colours (checked once).
    """
    arr = np.asarray(rgb)
    if arr.dtype != np.uint8 or arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"rgb2gray expects an H x W x 3 uint8 array, got {arr.dtype} {arr.shape} "
                         "(use gray_double for other inputs)")
    s = arr.astype(np.float64) @ GRAY_WEIGHTS
    s += 0.5
    return np.floor(s, out=s).astype(np.uint8)


def gray_double(image: np.ndarray, source: object = None) -> np.ndarray:
    """``double(rgb2gray(I))`` on ``[0, 255]`` as float64 (integer-valued for RGB input).

    RGB (any dtype :func:`features.imageio.as_rgb_uint8` accepts) is first made ``uint8``,
    as the releases read 8-bit files.  A 2-D (grey) array is returned as float64 without
    rounding (``[0, 1]`` floats are scaled by 255, uint16 by ``1/257``), as the MATLAB code
    would take it.
    """
    arr = np.asarray(image)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        return rgb_to_gray(arr, source)
    return rgb2gray(as_rgb_uint8(arr, source)).astype(np.float64)
