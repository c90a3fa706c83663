"""One BLAS thread for the per-image hot paths.

Images are the unit of parallelism (joblib/Dask workers); the matrix products inside one
extractor are small (15 x 16k blocks, 25 x 4k DCT batches), and multi-threaded BLAS on them is
many times slower than one thread, worse still on a shared machine.  ``one_blas_thread()`` is a
:mod:`threadpoolctl` context (tens of microseconds to enter and leave) that limits BLAS to one
thread while it is open.
"""
from __future__ import annotations

import functools
import threading
from typing import Any, Callable, TypeVar

__all__ = ["blas_is_single_threaded", "limit_threads", "one_blas_thread", "single_threaded_blas"]

_CONTROLLER = None
_BLAS_LIBS: list = []
_DEPTH = threading.local()          # > 0 inside a single_threaded_blas call on this thread
F = TypeVar("F", bound=Callable[..., Any])


def _controller():
    global _CONTROLLER, _BLAS_LIBS
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
        _BLAS_LIBS = list(_CONTROLLER.select(user_api="blas").lib_controllers)
    return _CONTROLLER


def limit_threads(n: int = 1, api: str | None = "blas"):
    """Context limiting BLAS (``api="blas"``) or all native thread pools (``api=None``) to ``n``."""
    return _controller().limit(limits=n, user_api=api)


def blas_is_single_threaded() -> bool:
    """Whether every BLAS library seen at the first use runs one thread now (a few C calls)."""
    _controller()
    return all(lib.get_num_threads() == 1 for lib in _BLAS_LIBS)


def one_blas_thread():
    return limit_threads(1, "blas")


def single_threaded_blas(func: F) -> F:
    """Decorator: run ``func`` with one BLAS thread.

    Only the outermost decorated call on a thread opens the :mod:`threadpoolctl` context (tens
    of microseconds each time, milliseconds when the OS deschedules the call on a busy machine),
    and only when BLAS is not single-threaded already (worker processes, ``OPENBLAS_NUM_THREADS=1``):
    nested calls, e.g. the building blocks an extractor calls, run inside it as they are.
    """
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if getattr(_DEPTH, "n", 0) or blas_is_single_threaded():
            return func(*args, **kwargs)
        _DEPTH.n = 1
        try:
            with one_blas_thread():
                return func(*args, **kwargs)
        finally:
            _DEPTH.n = 0
    return wrapper  # type: ignore[return-value]
