"""Per-thread reusable work arrays for the hot loops of the metrics.

A fresh multi-megabyte numpy array is memory the C library may have to map afresh (page
faults on first touch), especially after other code -- OpenCV, another metric -- freed
large blocks.  Loops that run per image keep their temporaries here instead: one set per
thread and name, replaced when the shape changes.
"""
from __future__ import annotations

import threading

import numpy as np

__all__ = ["scratch"]

_LOCAL = threading.local()


def scratch(name: str, shape: tuple[int, ...], dtype: type = np.float64) -> np.ndarray:
    """An uninitialised C-contiguous array of ``shape`` owned by this thread under ``name``."""
    store = getattr(_LOCAL, "arrays", None)
    if store is None:
        store = _LOCAL.arrays = {}
    arr = store.get(name)
    if arr is None or arr.shape != shape or arr.dtype != dtype:
        arr = store[name] = np.empty(shape, dtype=dtype)
    return arr
