"""The one contract every method follows, and the method registry.

A *method* is any object with ``fit(train_records) -> self`` and
``predict(records) -> np.ndarray`` (one float per record, in the method's own
direction; ``NaN`` for an image it could not process, with the reason in the
optional ``failures_`` dict ``{image path: reason}``).  Training-free metrics
ignore ``fit``.

Records are the DataFrame described in :mod:`benchmark.datasets.base`.  Trained
methods learn :func:`training_target` (the score turned so that higher is
better), so their predictions are always higher-is-better.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np
import pandas as pd

__all__ = [
    "Method",
    "MethodInfo",
    "RunContext",
    "register_method",
    "get_method_info",
    "list_methods",
    "build_method",
    "training_target",
    "GROUPS",
    "SUITES",
]

GROUPS = ("FR", "NR hand-crafted", "NR deep")
SUITES = ("fr", "classical", "deep")


@runtime_checkable
class Method(Protocol):
    def fit(self, records: pd.DataFrame) -> "Method": ...

    def predict(self, records: pd.DataFrame) -> np.ndarray: ...


def training_target(records: pd.DataFrame) -> np.ndarray:
    """Scores turned so that higher is better (DMOS negated), as float64."""
    score = records["score"].to_numpy(dtype=np.float64)
    sign = np.where(records["higher_better"].to_numpy(dtype=bool), 1.0, -1.0)
    return score * sign


@dataclass
class RunContext:
    """What a method factory may need from the run (all optional)."""

    cache_dir: Any = True            # feature cache root; True = default, None = off
    n_jobs: int = 1
    scheduler: Any = None            # Dask scheduler address or Client
    quick: bool = False              # quick preset: smaller grids, fewer crops/epochs
    weights: dict[str, str] = field(default_factory=dict)   # arch -> state-dict path
    device: str | None = None        # torch device; None = cuda when available
    seed: int = 0
    work_dir: Path | None = None     # where checkpoints may go
    progress: bool = True
    offline: bool | None = None      # never download weights; None = the IQABENCH_OFFLINE variable
    weights_sha256: dict[str, str] = field(default_factory=dict)   # arch -> SHA-256 of the weights used


@dataclass(frozen=True)
class MethodInfo:
    """Registry entry: a method's metadata and how to build it."""

    name: str
    factory: Callable[[RunContext], Method]
    kind: str                        # "FR" or "NR"
    group: str                       # one of GROUPS (row group in the tables)
    suite: str                       # one of SUITES
    higher_better: bool = True       # direction of the raw prediction
    trainable: bool = False
    trains_network: bool = False     # trains/fine-tunes a neural network (at most 3 splits on a CPU)
    label: str = ""                  # row label in tables (defaults to name)
    paper: str = ""
    reference: str = ""
    score_range: tuple[float, float] | None = None
    requires: tuple[str, ...] = ()   # optional modules it needs (e.g. "torch")
    description: str = ""
    # Bump when the method's wrapper changes its predictions: saved predictions are keyed by it and
    # by the built estimator's own versions and parameters (benchmark.versioning.method_version).
    version: str = "1"
    backbone: str | None = None      # ImageNet backbone whose weights it needs (e.g. "alexnet")
    # False: training it to convergence on a CPU exceeds a 2-core run's budget, so a run without a
    # CUDA device leaves it out (with a table note) unless RunConfig.cpu_train / --cpu-train is set
    cpu_default: bool = True

    @property
    def display(self) -> str:
        return self.label or self.name


_METHODS: dict[str, MethodInfo] = {}
_FAMILIES = ("fullref", "classical", "deep_transfer", "deep_iqa")
_loaded = False


def register_method(info: MethodInfo) -> MethodInfo:
    if info.group not in GROUPS:
        raise ValueError(f"group must be one of {GROUPS}, got {info.group!r}")
    if info.suite not in SUITES:
        raise ValueError(f"suite must be one of {SUITES}, got {info.suite!r}")
    _METHODS[info.name] = info
    return info


def _load_families() -> None:
    global _loaded
    if _loaded:
        return
    import importlib

    for fam in _FAMILIES:
        try:
            importlib.import_module(f"benchmark.methods.{fam}")
        except ModuleNotFoundError as exc:
            if exc.name != f"benchmark.methods.{fam}":
                raise
    _loaded = True


def available(info: MethodInfo) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in info.requires)


def list_methods(suite: str | None = None, include_unavailable: bool = False) -> list[MethodInfo]:
    _load_families()
    out = [m for m in _METHODS.values() if suite in (None, "all") or m.suite == suite]
    if not include_unavailable:
        out = [m for m in out if available(m)]
    return out


def get_method_info(name: str) -> MethodInfo:
    _load_families()
    try:
        return _METHODS[name]
    except KeyError:
        raise KeyError(f"unknown method {name!r}; known: {sorted(_METHODS)}") from None


def build_method(name: str, ctx: RunContext | None = None) -> Method:
    return get_method_info(name).factory(ctx or RunContext())


def deep_preset(ctx: RunContext) -> str:
    """Training preset of a deep method: ``"quick"`` with ``ctx.quick``, else ``"paper"`` on a
    CUDA device and ``"cpu"`` (a short schedule for a 2-core run) on a CPU."""
    if ctx.quick:
        return "quick"
    if ctx.device is not None:
        return "paper" if str(ctx.device).startswith("cuda") else "cpu"
    try:
        import torch
    except ImportError:
        return "cpu"
    return "paper" if torch.cuda.is_available() else "cpu"
