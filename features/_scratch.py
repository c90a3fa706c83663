"""Per-thread reusable work arrays for the hot loops of the metrics.

A fresh multi-megabyte numpy array is memory the C library may have to map afresh (page
faults on first touch), especially after other code -- OpenCV, another metric -- freed
large blocks.  Loops that run per image keep their temporaries here instead: one flat buffer
per thread, name and dtype, grown when a larger array is asked for (never shrunk).  Two arrays
obtained under the same name share memory: use distinct names for arrays alive together.
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
    size = 1
    for n in shape:
        size *= int(n)
    key = (name, np.dtype(dtype).str)
    buf = store.get(key)
    if buf is None or buf.size < size:
        buf = store[key] = np.empty(max(size, 1), dtype=dtype)
    return buf[:size].reshape(shape)
