"""The full-reference metric registry: each metric module declares its metadata once, beside its code.

``register_metric("gmsd", gmsd, label="GMSD", higher_better=False, ...)`` at the bottom of
``features/fullref/gmsd.py`` is the only place GMSD's name, direction, range, paper, reference
release and version are written; :mod:`benchmark.methods.fullref` builds the benchmark's
``MethodInfo`` from it.  Every public module of ``features.fullref`` is imported before the first
lookup, and installed packages add metrics through the ``iqabench.fr_metrics`` entry-point group.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, overload

import numpy as np

from ..registry import Registry, registration_helpers

__all__ = ["FRMetric", "FR_METRICS", "register_metric", "get_metric"]


@dataclass(frozen=True)
class FRMetric:
    """A full-reference metric ``func(ref, dist) -> float`` and its metadata."""

    name: str
    func: Callable[[np.ndarray, np.ndarray], float]
    label: str = ""
    higher_better: bool = True
    score_range: tuple[float, float] | None = None
    paper: str = ""
    reference: str = ""
    version: str = "1"          # bump when the values change: saved predictions are keyed by it
    description: str = ""

    @property
    def display(self) -> str:
        return self.label or self.name

    def __call__(self, ref: np.ndarray, dist: np.ndarray) -> float:
        return float(self.func(ref, dist))


def _check(m: FRMetric) -> None:
    if not callable(m.func):
        raise ValueError(f"FR metric {m.name!r}: func must be callable, got {m.func!r}")
    if m.score_range is not None and not (len(m.score_range) == 2 and m.score_range[0] <= m.score_range[1]):
        raise ValueError(f"FR metric {m.name!r}: score_range must be (low, high), got {m.score_range!r}")


#: every full-reference metric: the public modules of ``features.fullref`` and the
#: ``iqabench.fr_metrics`` entry points
FR_METRICS: Registry[FRMetric] = Registry("full-reference metric", group="iqabench.fr_metrics",
                                          packages=("features.fullref",), entry_type=FRMetric, check=_check)
registration_helpers(__name__)


@overload
def register_metric(name: str, func: Callable[[np.ndarray, np.ndarray], float], **meta: Any) -> FRMetric: ...


@overload
def register_metric(name: str, func: None = ..., **meta: Any) -> Callable[[Callable[..., float]], Callable[..., float]]:
    ...


def register_metric(name: str, func: Callable[[np.ndarray, np.ndarray], float] | None = None, **meta: Any) -> Any:
    """Register ``func(ref, dist) -> float`` as FR metric ``name`` with its metadata (``label``,
    ``higher_better``, ``score_range``, ``paper``, ``reference``, ``version``, ``description``).
    Without ``func`` it is a decorator."""
    if func is None:
        def decorate(f: Callable[..., float]) -> Callable[..., float]:
            FR_METRICS.register(name, FRMetric(name, f, **meta))
            return f
        return decorate
    return FR_METRICS.register(name, FRMetric(name, func, **meta))


def get_metric(name: str) -> FRMetric:
    """The registered FR metric ``name`` (``KeyError`` listing the known ones)."""
    return FR_METRICS.get(name)
