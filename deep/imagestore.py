"""Decoding images from disk: the default float transform, a lazy LRU store and a header probe.

* :func:`to_float_chw` - ``H x W x 3`` uint8 RGB -> ``3 x H x W`` float32 in ``[0, 1]``.
* :class:`ImageStore` - decode (:func:`features.imageio.load_image`) + transform on demand, with
  a small LRU cache; used at prediction time and by the disk-backed datasets.
* :func:`probe_images` - the cheap pre-flight check of a training set from the file headers.

The in-memory training store (every training image decoded once) is
:class:`deep.imagebank.ImageBank`.
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Callable, Sequence

import numpy as np

from features.imageio import ImageError, load_image

__all__ = ["Transform", "to_float_chw", "ImageStore", "probe_images"]

Transform = Callable[[np.ndarray], np.ndarray]


def to_float_chw(rgb: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 RGB -> ``3 x H x W`` float32 in ``[0, 1]`` (deepIQA input, not normalised)."""
    return np.ascontiguousarray(np.transpose(rgb, (2, 0, 1)), dtype=np.float32) / np.float32(255.0)


class ImageStore:
    """Lazy decoder + transform with a small LRU cache of transformed images.

    ``store[path]`` returns ``transform(load_image(path))``; at most ``cache_size``
    results are kept (0 = no cache).  Errors are :class:`~features.imageio.ImageError`
    naming the file.
    """

    def __init__(self, transform: Transform | None = None, cache_size: int = 0):
        self.transform = transform or to_float_chw
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getitem__(self, path: str | os.PathLike) -> np.ndarray:
        key = os.fspath(path)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rgb = load_image(key)
        try:
            arr = self.transform(rgb)
        except ImageError as exc:
            if exc.source == "<array>":
                raise ImageError(key, exc.reason) from None
            raise
        if self.cache_size > 0:
            self._cache[key] = arr
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return arr

    def clear(self) -> None:
        self._cache.clear()

    def __getstate__(self) -> dict:  # worker processes start with an empty cache
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state


def probe_images(paths: Sequence[str], min_h: int = 1, min_w: int | None = None,
                 refs: Sequence[str] | None = None) -> dict[str, str]:
    """Cheap pre-flight check from the file headers: ``{path: reason}`` for files that are
    missing, unreadable, or smaller than ``min_h x min_w`` (or whose reference differs in size).

    The size test uses ``min(h, w)`` so EXIF rotation does not matter for square minimums.
    """
    from PIL import Image

    min_w = min_h if min_w is None else min_w
    bad: dict[str, str] = {}

    def size_of(p: str) -> tuple[int, int]:
        with Image.open(p) as im:
            w, h = im.size
            try:
                orient = im.getexif().get(0x0112, 1)
            except Exception:
                orient = 1
        return (w, h) if orient in (5, 6, 7, 8) else (h, w)

    for i, path in enumerate(paths):
        p = os.fspath(path)
        try:
            if not os.path.isfile(p):
                raise ImageError(p, "file not found")
            h, w = size_of(p)
            if h < min_h or w < min_w:
                raise ImageError(p, f"image is {h}x{w}, smaller than the {min_h}x{min_w} patch")
            if refs is not None and refs[i]:
                r = os.fspath(refs[i])
                if not os.path.isfile(r):
                    raise ImageError(p, f"reference {r} not found")
                if size_of(r) != (h, w):
                    rh, rw = size_of(r)
                    raise ImageError(p, f"reference is {rh}x{rw} but distorted image is {h}x{w}")
        except ImageError as exc:
            bad[p] = exc.reason
        except Exception as exc:  # unreadable header
            bad[p] = f"not a readable image ({type(exc).__name__}: {exc})"
    return bad
