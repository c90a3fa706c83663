"""features._threads: one BLAS thread inside the decorated hot paths, entered once."""
from __future__ import annotations

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from features import _threads as T


def _blas_threads() -> set[int]:
    return {i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"}


def test_decorated_call_runs_one_blas_thread_and_enters_once(monkeypatch):
    if not _blas_threads():
        pytest.skip("no BLAS library visible to threadpoolctl")
    entered = []
    real = T.one_blas_thread

    def counting():
        entered.append(1)
        return real()

    monkeypatch.setattr(T, "one_blas_thread", counting)
    seen = []

    @T.single_threaded_blas
    def inner():
        seen.append(_blas_threads())
        return np.ones((3, 3)) @ np.ones((3, 3))

    @T.single_threaded_blas
    def outer():
        seen.append(_blas_threads())
        return inner()

    with threadpool_limits(2, user_api="blas"):
        before = _blas_threads()
        if before == {1}:
            pytest.skip("BLAS cannot run two threads here")
        outer()
        assert _blas_threads() == before                             # restored on the way out
    assert seen == [{1}, {1}] and len(entered) == 1                   # nested call: no second context
    entered.clear()
    with threadpool_limits(1, user_api="blas"):
        outer()                                                      # already single-threaded
    assert entered == []
