"""The one contract every method follows, and the method registry (:data:`METHODS`).

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

import inspect
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Callable, Protocol, TypeVar, overload, runtime_checkable

import numpy as np
import pandas as pd

from features.registry import Registry, registration_helpers

_F = TypeVar("_F", bound=Callable[..., Any])

__all__ = [
    "METHODS",
    "Method",
    "MethodInfo",
    "RunContext",
    "register_method",
    "get_method_info",
    "list_methods",
    "build_method",
    "training_target",
    "factory_from_class",
    "available",
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


#: metadata a run saves beside each prediction file and in ``run.json`` (:meth:`MethodInfo.metadata`),
#: so that ``python -m benchmark tables`` rebuilds the tables of a method it cannot import
SAVED_FIELDS = ("name", "label", "kind", "group", "suite", "higher_better", "trainable", "trains_network",
                "preset_dependent", "version", "paper", "reference", "score_range", "description", "backbone",
                "cpu_default")


@dataclass(frozen=True)
class MethodInfo:
    """Registry entry: a method's metadata and how to build it.

    ``group`` and ``suite`` may be left empty: ``group`` is then ``"FR"`` for an FR method, ``"NR
    deep"`` for an NR method that trains a network or needs torch, else ``"NR hand-crafted"``;
    ``suite`` is ``"deep"`` for a network (or torch) method, ``"fr"`` for another FR method, else
    ``"classical"``.  Capability flags tell the runner, the report and the goldens what to do with
    it (never its suite): ``trainable``, ``trains_network`` (at most 3 splits on a CPU),
    ``preset_dependent`` (its estimator follows :func:`deep_preset`, so the preset is part of the
    predictions' key and of ``run.json``, and its quick-table row is not pinned by the goldens;
    default: ``suite == "deep"``, the methods registered before the flag existed).
    """

    name: str
    factory: Callable[[RunContext], Method]
    kind: str = "NR"                 # "FR" or "NR"
    group: str = ""                  # one of GROUPS (row group in the tables); "" = from kind and flags
    suite: str = ""                  # one of SUITES; "" = from kind and flags
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
    preset_dependent: bool | None = None   # its estimator depends on deep_preset(ctx); None = suite == "deep"
    # another method whose training runs it shares: the runner gives it that method's checkpoint
    # folders (a prediction-time variant of a trained network then trains nothing of its own)
    checkpoints_of: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise ValueError(f"a method needs a non-empty name, got {self.name!r}")
        if self.kind not in ("FR", "NR"):
            raise ValueError(f"method {self.name!r}: kind must be 'FR' or 'NR', got {self.kind!r}")
        network = bool(self.trains_network or "torch" in self.requires)
        if not self.group:
            object.__setattr__(self, "group", "FR" if self.kind == "FR" else "NR deep" if network
                               else "NR hand-crafted")
        if not self.suite:
            object.__setattr__(self, "suite", "deep" if network or self.group == "NR deep"
                               else "fr" if self.kind == "FR" else "classical")
        if self.group not in GROUPS:
            raise ValueError(f"method {self.name!r}: group must be one of {GROUPS}, got {self.group!r}")
        if self.suite not in SUITES:
            raise ValueError(f"method {self.name!r}: suite must be one of {SUITES}, got {self.suite!r}")
        if self.preset_dependent is None:
            object.__setattr__(self, "preset_dependent", self.suite == "deep")
        if self.trains_network and not self.trainable:
            raise ValueError(f"method {self.name!r}: trains_network needs trainable=True")
        if not callable(self.factory):
            raise ValueError(f"method {self.name!r}: factory must be callable, got {self.factory!r}")

    @property
    def display(self) -> str:
        return self.label or self.name

    def metadata(self) -> dict[str, Any]:
        """The JSON-able metadata saved beside predictions (:data:`SAVED_FIELDS`)."""
        out = {k: getattr(self, k) for k in SAVED_FIELDS}
        out["score_range"] = list(self.score_range) if self.score_range is not None else None
        out["version"] = str(self.version)
        return out

    @classmethod
    def from_metadata(cls, meta: dict[str, Any]) -> "MethodInfo":
        """A method known only from saved metadata: it tabulates, it cannot be built."""
        name = str(meta["name"])

        def unavailable(ctx: RunContext) -> Method:
            raise RuntimeError(f"method {name!r} is known here only from its saved predictions; load the "
                               f"plugin that registers it (--plugin) to run it")

        kw = {k: meta[k] for k in SAVED_FIELDS if k in meta and k != "name" and meta[k] is not None}
        if "score_range" in kw:
            kw["score_range"] = tuple(kw["score_range"])
        return cls(name=name, factory=unavailable, **kw)


def _check(info: MethodInfo) -> None:
    if not isinstance(info, MethodInfo):
        raise TypeError(f"expected a MethodInfo, got {type(info).__name__}")


#: every method: the modules of ``benchmark.methods`` (each registers its own) and the
#: ``iqabench.methods`` entry points of installed packages
METHODS: Registry[MethodInfo] = Registry("method", group="iqabench.methods", packages=("benchmark.methods",),
                                         entry_type=MethodInfo, check=_check)
registration_helpers(__name__)
#: deprecated ``dict``-like view of :data:`METHODS` (older tests patch it); use ``METHODS.temporarily``
_METHODS = METHODS.legacy_view()

#: RunContext fields a method class may take in its constructor (``seed`` also as ``random_state``)
_CONTEXT_PARAMS = tuple(f.name for f in fields(RunContext))


def factory_from_class(cls: type) -> Callable[[RunContext], Method]:
    """A factory building ``cls`` with the run-context fields its constructor names (``cache_dir``,
    ``n_jobs``, ``scheduler``, ``quick``, ``weights``, ``device``, ``seed`` or ``random_state``,
    ``work_dir``, ``progress``); its other parameters keep their defaults."""
    params = inspect.signature(cls).parameters

    def build(ctx: RunContext) -> Method:
        kw = {k: getattr(ctx, k) for k in _CONTEXT_PARAMS if k in params}
        if "random_state" in params and "seed" not in params:
            kw["random_state"] = ctx.seed
        return cls(**kw)

    build.__name__ = f"build_{cls.__name__}"
    build.__qualname__ = build.__name__
    return build


@overload
def register_method(info: MethodInfo, /) -> MethodInfo: ...


@overload
def register_method(name: str, /, **meta: Any) -> Callable[[_F], _F]: ...


def register_method(info: MethodInfo | str, /, **meta: Any) -> Any:
    """Register a method.

    ``register_method(MethodInfo(...))`` registers an entry built by hand.  As a decorator,
    ``@register_method("name", label=..., kind=..., higher_better=..., trainable=..., version=...)``
    on a factory function ``f(ctx: RunContext) -> estimator``, or on an estimator class (built by
    :func:`factory_from_class`), builds the :class:`MethodInfo` from the keyword metadata.  A name
    registered twice from two places raises :class:`~features.registry.DuplicateNameError`
    naming both.
    """
    if isinstance(info, MethodInfo):
        if meta:
            raise TypeError("register_method(MethodInfo(...)) takes no other arguments")
        return METHODS.register(info.name, info)
    if not isinstance(info, str):
        raise TypeError(f"register_method expects a MethodInfo or a name, got {type(info).__name__}")
    name = info

    def decorate(obj: _F) -> _F:
        factory = factory_from_class(obj) if isinstance(obj, type) else obj
        doc = (inspect.getdoc(obj) or "").strip().split("\n\n")[0].replace("\n", " ")
        m = MethodInfo(name=name, factory=factory, **{"description": doc, **meta})
        METHODS.register(name, m)
        return obj

    return decorate


def get_method_info(name: str) -> MethodInfo:
    """The registered method ``name`` (``KeyError`` listing the known ones)."""
    return METHODS.get(name)


def available(info: MethodInfo) -> bool:
    import importlib.util

    return all(importlib.util.find_spec(m) is not None for m in info.requires)


def list_methods(suite: str | None = None, include_unavailable: bool = False) -> list[MethodInfo]:
    """Registered methods (built-ins and plugins) in the tables' row order: by suite (``fr``,
    ``classical``, ``deep``), trained before training-free, then in registration order (built-in
    modules alphabetically, then plugins); ``suite`` ``None``/``"all"``: every suite."""
    order = {s: i for i, s in enumerate(SUITES)}
    out = sorted(METHODS.values(), key=lambda m: (order.get(m.suite, len(order)), not m.trainable))
    out = [m for m in out if suite in (None, "all") or m.suite == suite]
    if not include_unavailable:
        out = [m for m in out if available(m)]
    return out


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
