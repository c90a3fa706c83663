"""One image loader and the colour conventions every metric and extractor shares.

Conventions (stated once, cited by every module that uses them):

* :func:`load_image` returns an ``H x W x 3`` ``uint8`` RGB array.  EXIF orientation
  is applied; grey images are replicated to three channels; the alpha channel of
  RGBA / LA / palette images is dropped (not composited); 16-bit images are scaled
  to 8 bits by ``round(v / 257)`` (MATLAB ``im2uint8``).
* :func:`rgb_to_gray` is MATLAB ``rgb2gray``: ``0.298936 R + 0.587043 G + 0.114021 B``
  on ``[0, 255]`` (float64, not rounded).
* :func:`rgb_to_y` is the luma of MATLAB ``rgb2ycbcr`` (ITU-R BT.601, studio swing):
  ``Y = 16 + (65.481 R + 128.553 G + 24.966 B) / 255`` in ``[16, 235]`` (float64).

Problems raise :class:`ImageError`, which names the file (or array) and the reason:
unreadable or truncated files, images larger than Pillow's decompression-bomb limit, and
arrays no extractor can take (:func:`check_image`: NaN/inf, values outside the ranges
above, wrong shapes).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Union

import numpy as np

__all__ = [
    "ImageError",
    "load_image",
    "as_rgb_uint8",
    "rgb_to_gray",
    "rgb_to_y",
    "to_gray",
    "to_y",
    "check_image",
    "check_min_size",
    "check_not_constant",
    "check_same_size",
]

PathLike = Union[str, os.PathLike]

# MATLAB rgb2gray weights (the rounded inverse of the NTSC YIQ matrix).
GRAY_WEIGHTS = np.array([0.298936021293775, 0.587043074451121, 0.114020904255103])
# MATLAB rgb2ycbcr luma row for double input in [0, 1], rescaled to [0, 255] input.
Y_WEIGHTS = np.array([65.481, 128.553, 24.966]) / 255.0


class ImageError(ValueError):
    """A bad image: names the file (or ``<array>``) and says why."""

    def __init__(self, source: object, reason: str):
        self.source = str(source) if source is not None else "<array>"
        self.reason = reason
        super().__init__(f"{self.source}: {reason}")


def load_image(path: PathLike) -> np.ndarray:
    """Decode ``path`` into an ``H x W x 3`` uint8 RGB array (see module conventions)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise ImageError(p, "file not found")
    try:
        with Image.open(p) as im:
            im.load()
            try:
                im = ImageOps.exif_transpose(im)
            except Exception:  # a broken EXIF block must not hide the pixels
                pass
            mode = im.mode
            if mode in ("I;16", "I;16L", "I;16B", "I;16N", "I"):
                arr = np.asarray(im, dtype=np.float64)
                if arr.max(initial=0) > 65535 or arr.min(initial=0) < 0:
                    raise ImageError(p, f"unsupported integer range for mode {mode}")
                arr = np.round(arr / 257.0).astype(np.uint8)
            elif mode == "F":
                raise ImageError(p, "floating-point images are not supported")
            elif mode in ("1", "L"):
                arr = np.asarray(im.convert("L"))
            elif mode in ("RGB",):
                arr = np.asarray(im)
            else:  # RGBA, LA, P, CMYK, YCbCr, ...: alpha dropped, colours converted by PIL
                arr = np.asarray(im.convert("RGB"))
    except ImageError:
        raise
    except Image.DecompressionBombError as exc:   # Pillow refuses more than 2 x MAX_IMAGE_PIXELS
        raise ImageError(p, f"image too large to decode safely (Pillow's decompression-bomb limit): {exc}") \
            from None
    except UnidentifiedImageError:
        raise ImageError(p, "not a readable image (unknown format)") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(p, f"unreadable or truncated image ({exc})") from None
    return as_rgb_uint8(arr, p)


def as_rgb_uint8(image: np.ndarray, source: object = None) -> np.ndarray:
    """Normalise an array to ``H x W x 3`` uint8.

    Accepts grey ``H x W`` or ``H x W x 1`` (replicated), RGB, RGBA (alpha dropped),
    uint8, uint16 (``round(v / 257)``), bool, and float arrays in ``[0, 1]``.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if arr.ndim == 2:
        arr = np.stack([arr] * 3, axis=-1)
    elif arr.ndim == 3 and arr.shape[2] in (3, 4):
        arr = arr[:, :, :3]
    else:
        raise ImageError(source, f"expected an H x W grey or H x W x 3 RGB image, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(source, "empty image")
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    if arr.dtype == np.uint16:
        return np.round(arr / 257.0).astype(np.uint8)
    if arr.dtype == bool:
        return arr.astype(np.uint8) * 255
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageError(source, "image has non-finite values")
        if arr.min() < 0 or arr.max() > 1:
            raise ImageError(source, "float images must lie in [0, 1]")
        return np.round(arr * 255.0).astype(np.uint8)
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 255:
            raise ImageError(source, f"integer image of dtype {arr.dtype} outside [0, 255]")
        return arr.astype(np.uint8)
    raise ImageError(source, f"unsupported dtype {arr.dtype}")


def _as_float_channels(image: np.ndarray, source: object) -> np.ndarray:
    arr = np.asarray(image)
    if arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] == 1):
        return None  # already grey
    return as_rgb_uint8(arr, source).astype(np.float64)


def rgb_to_gray(image: np.ndarray, source: object = None) -> np.ndarray:
    """MATLAB ``rgb2gray`` on ``[0, 255]`` as float64 (grey input returned as float64)."""
    rgb = _as_float_channels(image, source)
    if rgb is None:
        return _grey_float(image, source)
    return rgb @ GRAY_WEIGHTS


def rgb_to_y(image: np.ndarray, source: object = None) -> np.ndarray:
    """Luma Y of MATLAB ``rgb2ycbcr`` (BT.601, ``[16, 235]``) as float64.

    Grey input is returned unchanged (as float64): it is taken to be luminance already.
    """
    rgb = _as_float_channels(image, source)
    if rgb is None:
        return _grey_float(image, source)
    return 16.0 + rgb @ Y_WEIGHTS


def check_image(image: np.ndarray, source: object = None) -> None:
    """The one input check of every extractor and metric: raise :class:`ImageError` unless
    ``image`` is a non-empty ``H x W`` grey or ``H x W x 1/3/4`` array with finite values in
    its dtype's range: uint8, uint16, bool, other integers in ``[0, 255]``, floats in
    ``[0, 255]`` when grey (``[0, 1]`` is read as a fraction, see :func:`rgb_to_gray`) and in
    ``[0, 1]`` when RGB (:func:`as_rgb_uint8`).
    """
    arr = np.asarray(image)
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (1, 3, 4))):
        raise ImageError(source, f"expected an H x W grey or H x W x 3 RGB image, got shape {arr.shape}")
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ImageError(source, "empty image")
    grey = arr.ndim == 2 or arr.shape[2] == 1
    if arr.dtype in (np.uint8, np.uint16, bool):
        return
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise ImageError(source, "image has non-finite values (NaN or inf)")
        lo, hi = float(arr.min()), float(arr.max())
        top = 255.0 if grey else 1.0
        if lo < 0 or hi > top:
            raise ImageError(source, f"{'grey' if grey else 'RGB'} float image must lie in [0, {top:g}]"
                                     f"{' (or [0, 1])' if grey else ''}; its values span [{lo:g}, {hi:g}]")
        return
    if np.issubdtype(arr.dtype, np.integer):
        if arr.min() < 0 or arr.max() > 255:
            raise ImageError(source, f"integer image of dtype {arr.dtype} outside [0, 255]")
        return
    raise ImageError(source, f"unsupported dtype {arr.dtype}")


def _grey_float(image: np.ndarray, source: object) -> np.ndarray:
    check_image(image, source)
    arr = np.asarray(image)
    if arr.ndim == 3:
        arr = arr[:, :, 0]
    if arr.dtype == np.uint16:
        return np.round(arr / 257.0)
    if np.issubdtype(arr.dtype, np.floating) and arr.size and arr.max() <= 1.0:
        return arr.astype(np.float64) * 255.0
    return arr.astype(np.float64)


# Short aliases used by the extractors.
to_gray = rgb_to_gray
to_y = rgb_to_y


def check_min_size(image: np.ndarray, min_h: int, min_w: int | None = None, source: object = None,
                   what: str = "window") -> None:
    """Raise :class:`ImageError` when the image is smaller than ``min_h x min_w``."""
    min_w = min_h if min_w is None else min_w
    h, w = np.asarray(image).shape[:2]
    if h < min_h or w < min_w:
        raise ImageError(source, f"image is {h}x{w}, smaller than the {min_h}x{min_w} {what}")


def check_not_constant(image: np.ndarray, source: object = None) -> None:
    """Raise :class:`ImageError` for a constant image (no structure to measure)."""
    arr = np.asarray(image)
    if arr.size == 0 or np.ptp(arr) == 0:
        raise ImageError(source, "constant image (every pixel has the same value)")


def check_same_size(ref: np.ndarray, dist: np.ndarray, source: object = None) -> None:
    """Raise :class:`ImageError` when reference and distorted sizes differ."""
    rs, ds = np.asarray(ref).shape, np.asarray(dist).shape
    if rs[:2] != ds[:2]:
        raise ImageError(source, f"reference is {rs[0]}x{rs[1]} but distorted image is {ds[0]}x{ds[1]}")
