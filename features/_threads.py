"""One BLAS thread for the per-image hot paths.

Images are the unit of parallelism (joblib/Dask workers); the matrix products inside one
extractor are small (15 x 16k blocks, 25 x 4k DCT batches), and multi-threaded BLAS on them is
many times slower than one thread, worse still on a shared machine.  ``one_blas_thread()`` is a
cheap (~10 us) :mod:`threadpoolctl` context that limits BLAS to one thread while it is open.
"""
from __future__ import annotations

import functools
from typing import Any, Callable, TypeVar

__all__ = ["limit_threads", "one_blas_thread", "single_threaded_blas"]

_CONTROLLER = None
F = TypeVar("F", bound=Callable[..., Any])


def limit_threads(n: int = 1, api: str | None = "blas"):
    """Context limiting BLAS (``api="blas"``) or all native thread pools (``api=None``) to ``n``."""
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER.limit(limits=n, user_api=api)


def one_blas_thread():
    return limit_threads(1, "blas")


def single_threaded_blas(func: F) -> F:
    """Decorator: run ``func`` with one BLAS thread."""
    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with one_blas_thread():
            return func(*args, **kwargs)
    return wrapper  # type: ignore[return-value]
