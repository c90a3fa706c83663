"""``fit(records)`` / ``predict(records)`` wrapper shared by the IQA CNNs of ``deep/models``.

A subclass states its network, how an image is held in memory (``_encode``: uint8
``C x H x W``, default RGB) and turned into float input (``_to_input``), its batch sources,
forward pass, loss and image-level scores, and its presets; this class does the rest:

* targets: the records' scores turned higher-is-better (DMOS negated, as
  ``benchmark.methods.base.training_target``) and min-max scaled to ``[0, 1]`` on the
  training records (Kim et al. 2017, Sec. V: "normalized to the range [0, 1]", used for every
  model here so one set of learning rates fits every score scale); predictions are mapped
  back to the training score scale (higher is better);
* the training and validation images are decoded **once** into an in-memory
  :class:`~deep.imagebank.ImageBank` (uint8; the memory is reported in ``bank_bytes_``; on a
  GPU the bank is held in device memory, :meth:`TrainedIQA._bank_device`) and
  batches are cut from it by tensor indexing (:mod:`deep.batches`), so an epoch costs the
  network's forward and backward passes, not decoding;
* images that cannot be used (missing, unreadable, smaller than the patch, constant where
  the model normalises by contrast, reference of another size) are left out of training and
  predicted as NaN, reasons in ``failures_``;
* a content-disjoint validation split of the *training* records (``val_fraction``,
  :func:`deep.trainer.content_split`) is evaluated after every epoch: validation loss and the
  SROCC / PLCC of the image-level predictions go into ``history_``; the preset's ``stop_on``
  (``"loss"``, the papers' choice, or ``"srocc"``) drives early stopping (``patience``
  epochs without an improvement larger than ``min_delta``) and best-epoch selection;
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

from .._utils import autocast, seed_everything, select_device
from ..batches import scale_to_unit
from ..imagebank import ImageBank, rgb_chw
from ..imagestore import ImageStore, probe_images
from ..records import targets_from_records
from ..trainer import TrainConfig, Trainer, TrainResult, content_split, take_errors, to_device

__all__ = ["TrainedIQA", "as_records", "he_init", "PREDICT_ONLY", "rank_correlations"]

#: hyper-parameters that only change prediction: not part of the checkpoint key
PREDICT_ONLY = ("predict_patches", "predict_chunk")
#: nor is the epoch budget: a run that reached it continues when it is raised (an early-stopped
#: run stays stopped), which gives the same model as training with the larger budget at once
_NOT_IN_KEY = PREDICT_ONLY + ("max_epochs",)


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


def rank_correlations(pred: np.ndarray, target: np.ndarray) -> tuple[float, float]:
    """``(SROCC, PLCC)`` of validation predictions; 0 for a constant prediction (no ranking)."""
    from scipy import stats

    pred, target = np.asarray(pred, dtype=np.float64), np.asarray(target, dtype=np.float64)
    if len(pred) < 2 or np.ptp(pred) == 0 or np.ptp(target) == 0:
        return 0.0, 0.0
    return float(stats.spearmanr(pred, target).statistic), float(stats.pearsonr(pred, target).statistic)


class TrainedIQA(RegressorMixin, BaseEstimator):
    """Base class; subclasses set ``name``, ``kind``, ``PRESETS`` and the ``_`` hooks.

    ``PRESETS = {"paper": {...}, "cpu": {...}, "quick": {...}}``: ``preset`` names one
    (default ``"quick"`` when ``quick=True``, else ``"paper"``).  ``"cpu"`` is the schedule a
    CPU run of the benchmark uses: it trains until early stopping on the validation split
    (the README gives each model's measured epochs and time); ``"quick"`` is a tiny schedule
    that only checks the plumbing.  Every hyper-parameter given to the constructor as
    non-``None`` overrides the preset value of the same name.

    ``TRAINING_VERSION`` is part of the checkpoint key (with the hyper-parameters, seed,
    training images and targets): bump it in a subclass, or here for all of them, when a
    code change alters what training produces, so that an old ``latest.pt`` is not resumed.
    """

    name: ClassVar[str] = "trained_iqa"
    kind: ClassVar[str] = "NR"
    TRAINING_VERSION: ClassVar[str] = "3"
    PRESETS: ClassVar[dict[str, dict[str, Any]]] = {"paper": {}, "quick": {}}

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        # X is a records DataFrame of image paths, not a numeric array: scikit-learn's data checks
        # do not apply (tests/test_estimator_checks.py lists them; tests/test_contract.py covers fit/predict)
        tags.input_tags.two_d_array = False
        return tags

    # ------------------------------------------------------------------ hooks
    def _build_network(self, hp: dict[str, Any]) -> nn.Module:
        raise NotImplementedError

    def _encode(self, hp: dict[str, Any]) -> Callable[[np.ndarray], np.ndarray]:
        """``H x W x 3`` uint8 RGB -> the ``C x H x W`` array held in memory (uint8 or float16)."""
        return rgb_chw

    def _to_input(self, hp: dict[str, Any]) -> Callable[[torch.Tensor], torch.Tensor]:
        """Stored batch (patches or images) -> float32 network input."""
        return scale_to_unit

    def _min_size(self, hp: dict[str, Any]) -> int:
        return int(hp["patch_size"])

    def _resolve(self, hp: dict[str, Any], records: pd.DataFrame) -> dict[str, Any]:
        """Settings that depend on the training records (e.g. the dataset); default none."""
        return hp

    def _datasets(self, hp: dict[str, Any], bank: ImageBank, train: dict[str, Any], val: dict[str, Any] | None):
        """``(train_source, val_source or None)`` from dicts with ``ids`` (into ``bank``),
        ``ref_ids`` (FR, else None), ``targets``, ``extras`` (or None) and ``groups``."""
        raise NotImplementedError

    def _forward(self, hp: dict[str, Any]) -> Callable[[nn.Module, dict], Any]:
        """``(model, batch) -> outputs`` shared by the loss and the image scores."""
        raise NotImplementedError

    def _loss_from(self, hp: dict[str, Any]) -> Callable[[Any, dict], torch.Tensor]:
        raise NotImplementedError

    def _scores_from(self, hp: dict[str, Any]) -> Callable[[Any, dict], torch.Tensor]:
        """``(outputs, batch) -> (B,)`` image-level predictions (scaled targets) of the batch."""
        raise NotImplementedError

    def _optimizer(self, hp: dict[str, Any]):
        raise NotImplementedError

    def _extras(self, hp: dict[str, Any], paths: list[str]) -> tuple[np.ndarray | None, dict[str, str]]:
        """Per-image auxiliary targets (e.g. Yang's attributes) and failures; default none."""
        return None, {}

    def _predict_image(self, model: nn.Module, image: torch.Tensor, ref: torch.Tensor | None,
                       hp: dict[str, Any], device: torch.device, path: str) -> float:
        """Scaled-target prediction for one encoded image (``C x H x W``, as ``_encode`` gives it)."""
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
        preset.setdefault("stop_on", "loss")
        if preset["stop_on"] not in ("loss", "srocc"):
            raise ValueError(f"{self.name}: stop_on must be 'loss' or 'srocc', got {preset['stop_on']!r}")
        return preset

    def _run_key(self, hp: dict[str, Any], paths: list[str], targets: np.ndarray) -> str:
        h = hashlib.sha256()
        train_hp = {k: v for k, v in hp.items() if k not in _NOT_IN_KEY}
        h.update(json.dumps({"model": type(self).__name__, "version": self.TRAINING_VERSION, "hp": train_hp,
                             "seed": int(self.seed)},
                            sort_keys=True, default=str).encode())
        for p, t in zip(paths, targets):
            h.update(f"{p}\0{t:.9g}\n".encode())
        return h.hexdigest()

    # ------------------------------------------------------------------ fit / predict
    def _loss(self, hp: dict[str, Any]) -> Callable[[nn.Module, dict], torch.Tensor]:
        forward, loss_from = self._forward(hp), self._loss_from(hp)

        def loss(model: nn.Module, batch: dict) -> torch.Tensor:
            return loss_from(forward(model, batch), batch)

        return loss

    def _val_metric(self, hp: dict[str, Any]):
        """Validation loss (item-weighted mean) and SROCC / PLCC of the image-level predictions."""
        forward, loss_from, scores_from = self._forward(hp), self._loss_from(hp), self._scores_from(hp)
        stop_on = hp["stop_on"]

        def metric(model: nn.Module, loader: Any, device: torch.device) -> dict[str, float]:
            total, count = 0.0, 0
            preds, targets = [], []
            for batch in loader:
                batch = take_errors(batch, loader)
                if batch is None:
                    continue
                batch = to_device(batch, device)
                with autocast(device, enabled=device.type == "cuda"):
                    out = forward(model, batch)
                    loss = loss_from(out, batch)
                    scores = scores_from(out, batch)
                k = int(batch["target"].shape[0])
                total += float(loss.detach().float()) * k
                count += k
                preds.append(scores.detach().float().cpu().numpy().reshape(-1))
                targets.append(batch["target"].detach().float().cpu().numpy().reshape(-1))
            val_loss = total / count if count else float("nan")
            srocc, plcc = (rank_correlations(np.concatenate(preds), np.concatenate(targets)) if preds
                           else (float("nan"), float("nan")))
            return {"metric": val_loss if stop_on == "loss" else srocc, "val_loss": val_loss,
                    "val_srocc": srocc, "val_plcc": plcc}

        return metric

    def prepare(self, records: Any, y: Any = None) -> dict[str, Any]:
        """Everything :meth:`fit` trains with, without training: ``{"trainer", "train", "val",
        "model", "hp", "run_key", "bank"}`` (used by ``bench/bench_training.py``).  Sets the
        learned bookkeeping attributes (``failures_``, ``target_range_``, ``n_train_``, ...)."""
        records = as_records(records)
        hp = self._resolve(self.hyper_parameters(), records)
        target = targets_from_records(records) if y is None else np.asarray(y, dtype=np.float64)
        paths = [os.fspath(p) for p in records["image"]]
        refs = self._refs(records)
        failures = probe_images(paths, self._min_size(hp), refs=refs)
        if refs is not None:
            failures.update({p: "full-reference method but the record has no reference"
                             for p, r in zip(paths, refs) if not r})
        ok = np.array([p not in failures for p in paths]) & np.isfinite(target)
        # decode every usable training image (and reference) once
        wanted = [p for p, k in zip(paths, ok) if k]
        if refs is not None:
            wanted += [r for r, k in zip(refs, ok) if k]
        bank, bad = ImageBank.load(wanted, self._encode(hp), progress=bool(self.progress),
                                   desc=f"{self.name}: decode", device=self._bank_device())
        for i, p in enumerate(paths):
            if not ok[i]:
                continue
            if p in bad:
                failures[p] = bad[p]
            elif refs is not None and refs[i] in bad:
                failures[p] = f"reference {refs[i]}: {bad[refs[i]]}"
        ok &= np.array([p not in failures for p in paths])
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
            rows = idx[sel]
            return {"images": [paths[i] for i in rows], "ids": bank.ids([paths[i] for i in rows]),
                    "ref_ids": None if refs is None else bank.ids([refs[i] for i in rows]),
                    "targets": scaled[sel], "extras": None if extras is None else extras[rows],
                    "groups": groups[sel]}

        train, val = part(tr), (part(va) if len(va) else None)
        self.n_train_, self.n_val_ = len(tr), len(va)
        self.val_contents_ = sorted(set(groups[va])) if len(va) else []

        seed_everything(int(self.seed))
        model = self._build_network(hp)
        train_src, val_src = self._datasets(hp, bank, train, val)
        if getattr(val_src, "keep_patches", False):   # validation patches cut once: drop those images
            bank.release(val_src.bank_ids() - train_src.bank_ids())
        self.bank_bytes_ = bank.nbytes + int(getattr(val_src, "nbytes", 0))
        run_key = self._run_key(hp, train["images"] + (val["images"] if val else []),
                                np.concatenate([train["targets"], val["targets"] if val else []]))
        work = None
        if self.work_dir is not None:
            work = Path(self.work_dir) / f"{self.name}-{run_key[:16]}"
        cfg = TrainConfig(max_epochs=int(hp["max_epochs"]), patience=hp.get("patience"),
                          min_delta=float(hp.get("min_delta", 0.0)),
                          mode="min" if hp["stop_on"] == "loss" else "max",
                          batch_size=int(hp["batch_size"]), device=self.device, seed=int(self.seed), work_dir=work,
                          resume=True, checkpoint_interval_s=float(hp.get("checkpoint_interval_s", 60.0)),
                          progress=bool(self.progress), desc=self.name)
        trainer = Trainer(model, self._loss(hp), self._optimizer(hp), cfg, val_metric=self._val_metric(hp),
                          run_key=run_key)
        return {"trainer": trainer, "train": train_src, "val": val_src, "model": model, "hp": hp,
                "run_key": run_key, "bank": bank}

    def fit(self, records: Any, y: Any = None) -> "TrainedIQA":
        run = self.prepare(records, y)
        trainer, model = run["trainer"], run["model"]
        result: TrainResult = trainer.fit(run["train"], run["val"])
        for ds in (run["train"], run["val"]):   # images that failed while training (disk-backed datasets)
            self.failures_.update(getattr(ds, "errors", {}) or {})
        self.hyper_parameters_ = run["hp"]
        del run                                  # the decoded images are not kept after training
        self.model_ = model
        self.device_ = trainer.device
        self.train_result_ = result
        self.history_ = pd.DataFrame(result.history)
        self.run_key_ = trainer.run_key
        return self

    def _bank_device(self) -> torch.device | None:
        """Where the training images are held: on the training device when it is a GPU (decoded
        once, moved once; batches are then cut there), else ``None`` (host memory)."""
        dev = select_device(self.device)
        return dev if dev.type == "cuda" else None

    def _refs(self, records: pd.DataFrame) -> list[str] | None:
        if self.kind != "FR":
            return None
        if "ref" not in records.columns:
            raise ValueError(f"{self.name} is full-reference: the records need a 'ref' column")
        return ["" if (r is None or (isinstance(r, float) and np.isnan(r))) else os.fspath(r)
                for r in records["ref"]]

    def _predict_hp(self) -> dict[str, Any]:
        """The fitted hyper-parameters, with the prediction-only settings as they are now
        (``set_params`` after ``fit`` changes how :meth:`predict` samples, not the model)."""
        hp = dict(self.hyper_parameters_)
        now = self.hyper_parameters()
        for k in PREDICT_ONLY:
            if k in now:
                hp[k] = now[k]
        return hp

    def predict(self, records: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise NotFittedError(f"{self.name} is not fitted yet: call fit(records) first")
        records = as_records(records)
        hp = self._predict_hp()
        model, device = self.model_, self.device_
        model.eval()
        encode = self._encode(hp)
        store = ImageStore(encode)
        ref_store = ImageStore(encode, cache_size=4)   # distorted versions share references
        paths = [os.fspath(p) for p in records["image"]]
        refs = self._refs(records)
        out = np.full(len(paths), np.nan)
        failures: dict[str, str] = {}
        lo, hi = self.target_range_
        m = self._min_size(hp)
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
                        ref = torch.from_numpy(ref_store[refs[i]])
                    img = torch.from_numpy(store[paths[i]])
                    h, w = img.shape[-2:]
                    if h < m or w < m:
                        raise ImageError(paths[i], f"image is {h}x{w}, smaller than the {m}x{m} patch")
                    if ref is not None and ref.shape != img.shape:
                        raise ImageError(paths[i], f"reference is {ref.shape[-2]}x{ref.shape[-1]} but distorted "
                                                   f"image is {h}x{w}")
                    q = self._predict_image(model, img, ref, hp, device, paths[i])
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
