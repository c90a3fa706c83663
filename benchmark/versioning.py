"""What produced a prediction: a method's version and its built estimator's description.

A saved prediction is reused only when its fingerprint (``benchmark.runner._Runner._fp``)
matches, and the fingerprint holds :func:`method_version`:

* ``MethodInfo.version``: bumped by hand when a method's wrapper changes its results;
* :func:`describe`: the estimator the factory builds, walked recursively: its class, every
  ``*VERSION`` constant of its class or module (extractor ``VERSION``, ``TRAINING_VERSION``,
  ``FINETUNE_VERSION``, ``CNN_FEATURES_VERSION``), its constructor parameters (nested estimators
  described the same way; run-time knobs such as ``n_jobs``, ``cache_dir`` and ``progress``
  left out: they do not change a value), the registered extractor's version for a feature
  transformer that names one, and what the estimator resolves from code at fit time:
  ``hyper_parameters()`` (a CNN's preset values), ``search_grid()`` (an SVR's grid) and
  ``version_info()`` (anything else an estimator wants in the key, e.g. a cue's extractor version).

So editing a preset, a grid, an extractor or a model and bumping its version recomputes every
prediction it made, without deleting the output folder.
"""
from __future__ import annotations

import enum
import inspect
import os
import sys
from typing import Any

__all__ = ["describe", "method_version", "RUNTIME_PARAMS"]

#: constructor parameters that choose how a value is computed, not which value
RUNTIME_PARAMS = frozenset({"n_jobs", "cache_dir", "scheduler", "progress", "work_dir", "device", "num_workers",
                            "batch_size_predict", "verbose"})

_MAX_DEPTH = 6


def _init_params(obj: Any) -> dict[str, Any]:
    if hasattr(obj, "get_params"):
        try:
            return dict(obj.get_params(deep=False))
        except Exception:   # a get_params that needs fitted state: fall back to the signature
            pass
    try:
        sig = inspect.signature(type(obj).__init__)
    except (TypeError, ValueError):
        return {}
    out = {}
    for name, p in sig.parameters.items():
        if name == "self" or p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
            continue
        if hasattr(obj, name):
            out[name] = getattr(obj, name)
    return out


def _versions(obj: Any) -> dict[str, str]:
    """Every ``*VERSION`` constant of the object's class (and bases) and of its module."""
    out: dict[str, str] = {}
    mod = sys.modules.get(type(obj).__module__)
    for name in dir(mod) if mod is not None else []:
        if name.endswith("VERSION") and name.isupper():
            val = getattr(mod, name)
            if isinstance(val, (str, int)):
                out[f"{type(obj).__module__}.{name}"] = str(val)
    for name in dir(type(obj)):
        if name.endswith("VERSION") and name.isupper():
            val = getattr(type(obj), name)
            if isinstance(val, (str, int)):
                out[f"{type(obj).__qualname__}.{name}"] = str(val)
    return out


def _is_estimator(v: Any) -> bool:
    return not isinstance(v, type) and (hasattr(v, "fit") or hasattr(v, "get_params")
                                        or hasattr(v, "transform"))


def _value(v: Any, depth: int) -> Any:
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if isinstance(v, enum.Enum):
        return f"{type(v).__qualname__}.{v.name}"
    if isinstance(v, os.PathLike):
        return os.fspath(v)
    if isinstance(v, dict):
        return {str(k): _value(x, depth) for k, x in sorted(v.items(), key=lambda kv: str(kv[0]))}
    if isinstance(v, (list, tuple)):
        return [_value(x, depth) for x in v]
    if _is_estimator(v):
        return describe(v, depth + 1)
    if callable(v):
        return f"{getattr(v, '__module__', '')}.{getattr(v, '__qualname__', repr(v))}"
    return repr(v)


def describe(obj: Any, depth: int = 0) -> dict[str, Any]:
    """A JSON-able description of an estimator: class, versions, parameters (see the module docstring)."""
    d: dict[str, Any] = {"class": f"{type(obj).__module__}.{type(obj).__qualname__}"}
    if depth > _MAX_DEPTH:
        return d
    versions = _versions(obj)
    if versions:
        d["versions"] = versions
    params = {k: v for k, v in _init_params(obj).items() if k not in RUNTIME_PARAMS}
    d["params"] = {k: _value(v, depth) for k, v in sorted(params.items())}
    ext = params.get("extractor")
    if ext is not None:
        d["extractor_version"] = _extractor_version(ext)
    for hook in ("hyper_parameters", "search_grid", "version_info"):
        fn = getattr(obj, hook, None)
        if callable(fn):
            try:
                d[hook] = _value(fn(), depth)
            except Exception as exc:   # a hook that cannot run before fit must not hide the method
                d[hook] = f"unavailable: {type(exc).__name__}"
    return d


def _extractor_version(ext: Any) -> str:
    if hasattr(ext, "version"):
        return f"{getattr(ext, 'name', '')}:{ext.version}"
    if isinstance(ext, str):
        try:
            from features.extraction import get_extractor

            return f"{ext}:{get_extractor(ext).version}"
        except KeyError:
            return f"{ext}:unknown"
    return repr(ext)


def method_version(info: Any, method: Any | None) -> dict[str, Any]:
    """``{"version": info.version, "estimator": describe(method)}`` for a prediction's fingerprint."""
    return {"version": str(getattr(info, "version", "")),
            "estimator": None if method is None else describe(method)}
