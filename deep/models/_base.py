"""``fit(records)`` / ``predict(records)`` wrapper shared by the IQA CNNs of ``deep/models``.

A subclass states its network, input transform, datasets, loss and optimiser (its paper's
recipe as the default preset, a tiny CPU preset when ``quick=True``); this class does the rest:

* targets: the records' scores turned higher-is-better (DMOS negated, as
  ``benchmark.methods.base.training_target``) and min-max scaled to ``[0, 1]`` on the
  training records (Kim et al. 2017, Sec. V: "normalized to the range [0, 1]", used for every
  model here so one set of learning rates fits every score scale); predictions are mapped
  back to the training score scale (higher is better);
* images that cannot be used (missing, unreadable header, smaller than the patch, reference
  of another size) are left out of training and predicted as NaN, reasons in ``failures_``;
* a content-disjoint validation split of the *training* records (``val_fraction``,
  :func:`deep.trainer.content_split`) drives early stopping / best-epoch selection;
* the run is seeded (``seed``) and checkpointed under ``work_dir/<name>-<run key>`` (resumable;
  ``latest.pt`` at most once a minute, plus at every new best and at the end).
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any, Callable, ClassVar

import numpy as np
import pandas as pd
import torch
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.exceptions import NotFittedError
from torch import nn

from features.imageio import ImageError

from .._utils import autocast, seed_everything
from ..patches import ImageStore, probe_images, targets_from_records
from ..trainer import TrainConfig, Trainer, TrainResult, content_split

__all__ = ["TrainedIQA", "as_records", "he_init"]


def he_init(model: nn.Module) -> None:
    """He (Kaiming) normal initialisation of the conv and hidden FC weights, zero biases; the
    single-output FC layers keep torch's default (small) init.  Keeps the activations of deep
    stacks of plain ReLU convolutions (deepIQA: 10, Kim: 8, no batch norm) at scale; with torch's
    default init, training from scratch stalls for many epochs."""
    for m in model.modules():
        if isinstance(m, nn.Conv2d) or (isinstance(m, nn.Linear) and m.out_features > 1):
            nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
            nn.init.zeros_(m.bias)


def as_records(records: Any) -> pd.DataFrame:
    """A records DataFrame, or a sequence of image paths turned into one (NR use)."""
    if isinstance(records, pd.DataFrame):
        return records.reset_index(drop=True)
    if isinstance(records, (str, os.PathLike)):
        records = [records]
    return pd.DataFrame({"image": [os.fspath(p) for p in records]})


class TrainedIQA(RegressorMixin, BaseEstimator):
    """Base class; subclasses set ``name``, ``kind``, ``PRESETS`` and the ``_build_*`` hooks.

    ``PRESETS = {"paper": {...}, "cpu": {...}, "quick": {...}}``: ``preset`` names one
    (default ``"quick"`` when ``quick=True``, else ``"paper"``); ``"cpu"`` is a short
    schedule that fits a 2-core CPU run of the benchmark, not the paper's training.  Every
    hyper-parameter given to the constructor as non-``None`` overrides the preset value of
    the same name.

    ``TRAINING_VERSION`` is part of the checkpoint key (with the hyper-parameters, seed,
    training images and targets): bump it in a subclass, or here for all of them, when a
    code change alters what training produces, so that an old ``latest.pt`` is not resumed.
    """

    name: ClassVar[str] = "trained_iqa"
    kind: ClassVar[str] = "NR"
    TRAINING_VERSION: ClassVar[str] = "2"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "quick": {}}

    # ------------------------------------------------------------------ hooks
    def _build_network(self, hp: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def _transform(self, hp: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
        raise NotImplementedError

    def _min_size(self, hp: dict[str, Any]) -> int:
        return int(hp["patch_size"])

    def _datasets(self, hp: dict[str, Any], train: dict[str, Any], val: dict[str, Any] | None):
        """``(train_dataset, val_dataset or None)`` from dicts with ``images``, ``targets``,
        ``refs`` (FR) and ``extras`` (or None)."""
        raise NotImplementedError

    def _loss(self, hp: dict[str, Any]) -> Callable[[nn.Module, Any], torch.Tensor]:
        raise NotImplementedError

    def _optimizer(self, hp: dict[str, Any]):
        raise NotImplementedError

    def _collate(self, hp: dict[str, Any]):
        from ..patches import collate_patches

        return collate_patches

    def _batch_sampler(self, hp: dict[str, Any], groups: np.ndarray):
        return None

    def _extras(self, hp: dict[str, Any], paths: list[str]) -> tuple[np.ndarray | None, dict[str, str]]:
        """Per-image auxiliary targets (e.g. Yang's attributes) and failures; default none."""
        return None, {}

    def _predict_arrays(self, model: nn.Module, image: np.ndarray, ref: np.ndarray | None,
                        hp: dict[str, Any], device: torch.device) -> float:
        """Scaled-target prediction for one transformed image (``C x H x W``)."""
        raise NotImplementedError

    # ------------------------------------------------------------------ settings
    def hyper_parameters(self) -> dict[str, Any]:
        """The effective hyper-parameters: the preset, overridden by explicit arguments."""
        name = getattr(self, "preset", None) or ("quick" if getattr(self, "quick", False) else "paper")
        if name not in self.PRESETS:
            raise ValueError(f"{self.name}: unknown preset {name!r}; choose from {sorted(self.PRESETS)}")
        preset = dict(self.PRESETS[name])
        for key in list(preset) + ["max_epochs", "patience", "batch_size", "lr", "val_fraction"]:
            value = getattr(self, key, None)
            if value is not None:
                preset[key] = value
        return preset

    def _run_key(self, hp: dict[str, Any], paths: list[str], targets: np.ndarray) -> str:
        h = hashlib.sha256()
        h.update(json.dumps({"model": type(self).__name__, "version": self.TRAINING_VERSION, "hp": hp,
                             "seed": int(self.seed)},
                            sort_keys=True, default=str).encode())
        for p, t in zip(paths, targets):
            h.update(f"{p}\0{t:.9g}\n".encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ fit / predict
    def fit(self, records: Any, y: Any = None) -> "TrainedIQA":
        records = as_records(records)
        hp = self.hyper_parameters()
        target = targets_from_records(records) if y is None else np.asarray(y, dtype=np.float64)
        paths = [os.fspath(p) for p in records["image"]]
        refs = self._refs(records)
        failures = probe_images(paths, self._min_size(hp), refs=refs)
        if refs is not None:
            failures.update({p: "full-reference method but the record has no reference"
                             for p, r in zip(paths, refs) if not r})
        ok = np.array([p not in failures for p in paths]) & np.isfinite(target)
        extras = None
        ok_paths = [p for p, k in zip(paths, ok) if k]
        extras_ok, extra_fail = self._extras(hp, ok_paths)
        if extras_ok is not None:
            extras = np.full((len(paths), extras_ok.shape[1]), np.nan)
            extras[ok] = extras_ok
            failures.update(extra_fail)
            ok &= np.all(np.isfinite(extras), axis=1)
        self.failures_ = dict(failures)
        idx = np.flatnonzero(ok)
        if len(idx) < 2:
            raise ValueError(f"{self.name}: only {len(idx)} usable training images; failures: "
                             f"{list(failures.items())[:5]}")
        t = target[idx]
        lo, hi = float(t.min()), float(t.max())
        if hi <= lo:
            raise ValueError(f"{self.name}: all training scores are equal ({lo}); nothing to learn")
        self.target_range_ = (lo, hi)
        scaled = (t - lo) / (hi - lo)
        groups = (records["content"].astype(str).to_numpy()[idx] if "content" in records.columns
                  else np.array([str(i) for i in idx], dtype=object))
        tr, va = content_split(groups, float(hp.get("val_fraction", 0.2)), seed=int(self.seed))

        def part(sel: np.ndarray) -> dict[str, Any]:
            return {"images": [paths[i] for i in idx[sel]], "targets": scaled[sel],
                    "refs": None if refs is None else [refs[i] for i in idx[sel]],
                    "extras": None if extras is None else extras[idx[sel]], "groups": groups[sel]}

        train, val = part(tr), (part(va) if len(va) else None)
        self.n_train_, self.n_val_ = len(tr), len(va)
        self.val_contents_ = sorted(set(groups[va])) if len(va) else []

        seed_everything(int(self.seed))
        model = self._build_network(hp)
        train_ds, val_ds = self._datasets(hp, train, val)
        run_key = self._run_key(hp, train["images"] + (val["images"] if val else []),
                                np.concatenate([train["targets"], val["targets"] if val else []]))
        work = None
        if self.work_dir is not None:
            work = Path(self.work_dir) / f"{self.name}-{run_key[:16]}"
        cfg = TrainConfig(max_epochs=int(hp["max_epochs"]), patience=hp.get("patience"),
                          batch_size=int(hp["batch_size"]), collate_fn=self._collate(hp),
                          batch_sampler=self._batch_sampler(hp, train["groups"]),
                          device=self.device, seed=int(self.seed), work_dir=work, resume=True,
                          checkpoint_interval_s=float(hp.get("checkpoint_interval_s", 60.0)),
                          progress=bool(self.progress), desc=self.name)
        trainer = Trainer(model, self._loss(hp), self._optimizer(hp), cfg, run_key=run_key)
        result: TrainResult = trainer.fit(train_ds, val_ds)
        for ds in (train_ds, val_ds):   # images that could not be decoded/transformed while training
            self.failures_.update(getattr(ds, "errors", {}) or {})
        self.model_ = model
        self.device_ = trainer.device
        self.train_result_ = result
        self.history_ = pd.DataFrame(result.history)
        self.hyper_parameters_ = hp
        self.run_key_ = run_key
        return self

    def _refs(self, records: pd.DataFrame) -> list[str] | None:
        if self.kind != "FR":
            return None
        if "ref" not in records.columns:
            raise ValueError(f"{self.name} is full-reference: the records need a 'ref' column")
        return ["" if (r is None or (isinstance(r, float) and np.isnan(r))) else os.fspath(r)
                for r in records["ref"]]

    def predict(self, records: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(records) first")
        records = as_records(records)
        hp = self.hyper_parameters_
        model, device = self.model_, self.device_
        model.eval()
        store = ImageStore(self._transform(hp))
        ref_store = ImageStore(self._transform(hp), cache_size=4)   # distorted versions share references
        paths = [os.fspath(p) for p in records["image"]]
        refs = self._refs(records)
        out = np.full(len(paths), np.nan)
        failures: dict[str, str] = {}
        lo, hi = self.target_range_
        items = range(len(paths))
        if self.progress:
            from tqdm.auto import tqdm

            items = tqdm(items, desc=f"{self.name} predict", unit="img", leave=False)
        with torch.no_grad():
            for i in items:
                try:
                    ref = None
                    if refs is not None:
                        if not refs[i]:
                            raise ImageError(paths[i], "full-reference method but the record has no reference")
                        ref = ref_store[refs[i]]
                    img = store[paths[i]]
                    m = self._min_size(hp)
                    if img.shape[-2] < m or img.shape[-1] < m:
                        raise ImageError(paths[i], f"image is {img.shape[-2]}x{img.shape[-1]}, smaller than the "
                                                   f"{m}x{m} patch")
                    if ref is not None and ref.shape != img.shape:
                        raise ImageError(paths[i], f"reference is {ref.shape[-2]}x{ref.shape[-1]} but distorted "
                                                   f"image is {img.shape[-2]}x{img.shape[-1]}")
                    q = self._predict_arrays(model, img, ref, hp, device)
                    out[i] = q * (hi - lo) + lo
                except ImageError as exc:
                    failures[paths[i]] = exc.reason
        self.failures_ = failures
        return out

    # helper for subclasses: run the network on patches in chunks
    @staticmethod
    def _chunks(n: int, size: int):
        for start in range(0, n, size):
            yield slice(start, min(n, start + size))

    def _autocast(self, device: torch.device):
        return autocast(device, enabled=device.type == "cuda")

