"""Seeds and thread counts of pinned computations: the one place that fixes them.

A value pinned by a golden (``benchmark.goldens``) or a result that must be byte-identical
from one run to the next is computed inside :func:`pinned`, which

* limits every native thread pool to ``threads`` (default 1): BLAS (OpenBLAS/MKL, through
  :mod:`threadpoolctl`), OpenMP runtimes (scikit-learn's, torch's ``libgomp``) and torch's
  intra-op pool (:func:`torch.set_num_threads`).  Reductions split over a different number of
  threads add in a different order, so a float result may move in its last bits with the core
  count; one thread makes it a function of the inputs and the library versions alone;
* seeds Python's :mod:`random`, NumPy's legacy global generator and torch (CPU and CUDA)
  when ``seed`` is given, and asks torch for deterministic algorithms;
* restores every setting it changed on exit.

torch's *inter-op* pool (``torch.set_num_interop_threads``) can be set only once per process,
before any inter-op work; the benchmark never uses inter-op parallelism (no TorchScript
``fork``, no asynchronous ops), so it is set to ``threads`` when still possible and otherwise
left alone.  ``OMP_NUM_THREADS`` and friends only act when set before the libraries load: the
test suite sets them to 1 (``tests/conftest.py``); :func:`pinned` does not depend on them.

Code that needs its own random stream draws from a ``numpy.random.Generator`` made from a seed
(never from global state), so that its values do not depend on what ran before it.
"""
from __future__ import annotations

import contextlib
import os
import random
import sys
from typing import Iterator

import numpy as np

__all__ = ["pinned", "limit_threads", "seed_all", "thread_settings"]

_CONTROLLER = None


def _controller():
    global _CONTROLLER
    if _CONTROLLER is None:
        from threadpoolctl import ThreadpoolController

        _CONTROLLER = ThreadpoolController()
    return _CONTROLLER


def _torch():
    """torch when it is already imported (pinning never imports it)."""
    return sys.modules.get("torch")


def seed_all(seed: int) -> None:
    """Seed ``random``, NumPy's global generator and torch (CPU and every CUDA device, if imported)."""
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2 ** 32))
    torch = _torch()
    if torch is not None:
        torch.manual_seed(seed)
        if torch.cuda.is_available():
            torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))


def thread_settings() -> dict[str, object]:
    """The thread counts in force now (for run metadata and test messages)."""
    out: dict[str, object] = {"threadpools": {f"{p['user_api']}:{p['internal_api']}": p["num_threads"]
                                              for p in _controller().info()}}
    torch = _torch()
    if torch is not None:
        out["torch_intra_op"] = torch.get_num_threads()
        out["torch_inter_op"] = torch.get_num_interop_threads()
    return out


@contextlib.contextmanager
def limit_threads(threads: int = 1) -> Iterator[None]:
    """BLAS, OpenMP and torch intra-op threads limited to ``threads`` inside the block."""
    threads = max(1, int(threads))
    torch = _torch()
    old_torch = torch.get_num_threads() if torch is not None else None
    with _controller().limit(limits=threads):
        if torch is not None:
            torch.set_num_threads(threads)
            try:   # possible only once per process, before any inter-op work (see the module docstring)
                torch.set_num_interop_threads(threads)
            except RuntimeError:
                pass
        try:
            yield
        finally:
            if torch is not None and old_torch is not None:
                torch.set_num_threads(old_torch)


@contextlib.contextmanager
def pinned(seed: int | None = 0, threads: int = 1) -> Iterator[None]:
    """Seeds (when ``seed`` is not None), ``threads`` native threads and deterministic torch kernels."""
    torch = _torch()
    old_det = torch.are_deterministic_algorithms_enabled() if torch is not None else None
    with limit_threads(threads):
        if seed is not None:
            seed_all(seed)
        if torch is not None:
            torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            yield
        finally:
            if torch is not None:
                torch.use_deterministic_algorithms(bool(old_det), warn_only=True)
