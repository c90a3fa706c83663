"""``--plugin`` of the GPU run (``bench/gpu_paper_presets.sh``): training-time budgets and a throughput log.

Imported by ``python -m benchmark run --plugin bench/gpu_plugin.py``, it changes no method and
registers none; it wraps, in this process only:

* the ``fit`` of every registered method that trains a network: the fit runs inside
  :func:`deep.trainer.time_budget` with ``budget_s = clip(per_image_s x n_train, min_s, max_s)``
  (``IQABENCH_GPU_BUDGET`` = ``per_image_s,min_s,max_s``; unset: no budget), so each training run
  stops at the first training step past its budget (that epoch is validated and kept as usual), or
  earlier by the preset's own epoch cap or early stopping; afterwards it logs the training units (patches, crops or images) per second of
  the training steps, the epochs run and why training ended;
* :meth:`deep.features.CNNFeatures.transform`: crops per second of each feature extraction;

one JSON object per line to ``IQABENCH_GPU_LOG`` (unset: nothing is logged), and at exit the
peak of ``torch.cuda.max_memory_allocated`` (and reserved) when CUDA was used.
"""
from __future__ import annotations

import atexit
import json
import os
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchmark.methods.base import METHODS, MethodInfo


def _driver() -> Any:
    """``bench/gpu_presets.py`` (the budget rule lives there; importing it has no side effects)."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("iqabench_gpu_presets", Path(__file__).with_name("gpu_presets.py"))
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


_DRIVER = _driver()
budget_for, budget_rule = _DRIVER.budget_for, _DRIVER.budget_rule

LOG = os.environ.get("IQABENCH_GPU_LOG")


def log(row: dict[str, Any]) -> None:
    if LOG:
        with open(LOG, "a", encoding="utf-8") as f:
            f.write(json.dumps(row, default=str) + "\n")


def _sync() -> None:
    import torch

    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.synchronize()


def _wrap_fit(name: str, est: Any, rule: tuple[float, float, float] | None) -> Any:
    from deep.trainer import time_budget

    fit = est.fit

    def timed_fit(records: Any, *args: Any, **kwargs: Any) -> Any:
        n = len(records)
        budget = budget_for(n, rule)
        t0 = time.perf_counter()
        with time_budget(budget):
            out = fit(records, *args, **kwargs)
        _sync()
        res = getattr(est, "train_result_", None)
        row: dict[str, Any] = {"kind": "train", "method": name, "n_train": n, "budget_s": budget,
                               "fit_s": round(time.perf_counter() - t0, 3)}
        if res is not None:
            row.update(epochs=int(res.epochs_run), best_epoch=int(res.best_epoch),
                       stopped_early=bool(res.stopped_early),
                       stopped_by_budget=bool(getattr(res, "stopped_by_budget", False)),
                       budget_cut_epoch=bool(getattr(res, "budget_cut_epoch", False)),
                       units=int(res.units_seen), train_s=round(float(res.train_seconds), 3),
                       units_per_s=round(float(res.units_per_second), 1))
        bank = getattr(est, "bank_bytes_", None)
        if bank is not None:
            row["bank_bytes"] = int(bank)
        log(row)
        return out

    est.fit = timed_fit          # the instance only; get_params (the predictions' key) is unchanged
    return est


def _wrapped_factory(info: MethodInfo, rule: tuple[float, float, float] | None):
    factory = info.factory

    def build(ctx: Any) -> Any:
        return _wrap_fit(info.name, factory(ctx), rule)

    build.__name__ = getattr(factory, "__name__", "build")
    return build


def _wrap_features() -> None:
    from deep.features import CNNFeatures

    transform = CNNFeatures.transform
    if getattr(transform, "_gpu_logged", False):
        return

    def timed_transform(self: CNNFeatures, X: Any) -> Any:
        t0 = time.perf_counter()
        out = transform(self, X)
        _sync()
        dt = time.perf_counter() - t0
        n = len(X)
        crops = n * int(self.n_crops)
        log({"kind": "features", "arch": self.arch, "tap": getattr(self, "tap_", self.tap), "images": n, "crops": crops,
             "crop_size": self.size_, "seconds": round(dt, 3), "crops_per_s": round(crops / dt, 1) if dt > 0 else None})
        return out

    timed_transform._gpu_logged = True  # type: ignore[attr-defined]
    CNNFeatures.transform = timed_transform  # type: ignore[method-assign]


def _at_exit() -> None:
    try:
        import torch
    except ImportError:
        return
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        log({"kind": "memory", "device": torch.cuda.get_device_name(0),
             "max_allocated_bytes": int(torch.cuda.max_memory_allocated()),
             "max_reserved_bytes": int(torch.cuda.max_memory_reserved())})


def install() -> None:
    rule = budget_rule()
    entries = list(METHODS.values())
    for info in entries:          # every entry again, in its order: the tables' row order is kept
        METHODS.unregister(info.name)
    for info in entries:
        METHODS.register(info.name, replace(info, factory=_wrapped_factory(info, rule)) if info.trains_network
                         else info)
    try:
        _wrap_features()
    except ImportError:
        pass
    atexit.register(_at_exit)


install()
