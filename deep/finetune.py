"""Fine-tuned ImageNet CNNs for NR-IQA (Kim et al. 2017, Sec. V, second approach).

Recipe of paper 001 (Kim, Zeng, Ghadiyaram, Lee, Zhang, Bovik, IEEE SPM 2017, Sec. V):

* the training scores are normalised to ``[0, 1]``: here the higher-is-better training
  target (DMOS negated) is min-max scaled over the training records given to ``fit``;
  predictions are mapped back to that score scale (so they stay higher-is-better);
* 100 random crops at the network's input size per training image (30 on large
  databases: Kim et al. used 30 on TID2013, 3000 images, so ``n_images >= 3000`` takes
  30), each inheriting its image's score; the crops of an image are fixed for the run;
* patch-wise loss, Eq. (1): ``L = 1/N sum_i ||f(p_i) - S||``; for a scalar output the norm
  is the absolute error, so the default is L1 (``loss="l2"`` for mean squared error);
* the last (1000-way) layer replaced by a one-output regression layer, with a dropout
  layer of rate 0.5 before it;
* learning rate 1e-3, batch size 48, 8 epochs (AlexNet) / 6 epochs (ResNet50); the
  paper names no epochs for MobileNetV2/VGG16 and no optimiser: 6 epochs (as ResNet50)
  and SGD with momentum 0.9 and weight decay 5e-4 (the Caffe reference-model solver of
  the time) are this implementation's choices;
* prediction: the mean of the outputs on 25 random crops (Sec. V).

Beyond the paper: early stopping and best-epoch selection use a content-disjoint
validation split carved from the training records only (``val_fraction`` of the
contents, :func:`deep.trainer.content_split`); its metric is the SROCC of the image-level
(25-crop mean) predictions.  Training runs through the shared :class:`deep.trainer.Trainer`
(checkpoints ``latest.pt``/``best.pt`` in ``work_dir``; re-running ``fit`` with the same
``work_dir`` and the same data and hyper-parameters resumes after the last finished epoch;
AMP + channels_last on CUDA only; seeded).  A training item is ``crops_per_item`` crops
of one image (one decode); a batch of 48 crops thus mixes 12 images.
"""
from __future__ import annotations

import hashlib
import json
import os
import warnings
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from features.cache import file_digest
from features.extraction import paths_of
from features.imageio import ImageError, load_image

from ._utils import autocast, derived_rng, select_device
from .backbones import INPUT_SIZE, WeightsError, build_backbone, normalize, weights_info
from .features import crop_outputs, default_workers, image_crops
from .patches import probe_images, targets_from_records, segment_mean
from .trainer import Trainer, TrainConfig, content_split, sgd

__all__ = ["FineTunedCNN", "RegressionCNN", "PAPER_EPOCHS", "crops_per_image"]

# Kim et al. 2017, Sec. V: 8 epochs (AlexNet), 6 (ResNet50); others: 6 (our choice, see module doc).
PAPER_EPOCHS = {"alexnet": 8, "resnet50": 6, "mobilenet_v2": 6, "vgg16": 6}
FINETUNE_VERSION = "1"


def crops_per_image(n_images: int, large: int = 3000) -> int:
    """Training crops per image: 100, or 30 on large databases (Kim et al.: 30 on TID2013's 3000)."""
    return 30 if n_images >= large else 100


class RegressionCNN(nn.Module):
    """An ImageNet backbone whose last layer is replaced by ``Dropout(p) -> Linear(., 1)``.

    ``head="classifier"`` keeps the pretrained layers up to the last one (AlexNet/VGG16:
    fc6, fc7; ResNet50 and MobileNetV2: the global pool); ``head="pool"`` regresses from the
    globally average-pooled last conv block (AlexNet/VGG16 without classifier weights).
    MobileNetV2's own dropout (0.2) is replaced by the paper's 0.5.
    """

    def __init__(self, backbone: nn.Module, arch: str, head: str = "classifier", dropout: float = 0.5):
        super().__init__()
        self.arch, self.head = arch, head
        m = backbone
        if head == "classifier":
            if arch in ("alexnet", "vgg16"):
                last = m.classifier[-1]
                m.classifier[-1] = nn.Sequential(nn.Dropout(dropout), nn.Linear(last.in_features, 1))
            elif arch == "resnet50":
                m.fc = nn.Sequential(nn.Dropout(dropout), nn.Linear(m.fc.in_features, 1))
            else:
                m.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(m.classifier[-1].in_features, 1))
        elif head == "pool":
            if arch not in ("alexnet", "vgg16"):
                raise ValueError(f"head='pool' is for alexnet/vgg16 (for {arch} 'classifier' already pools)")
            m.classifier = nn.Sequential(nn.Dropout(dropout), nn.Linear(m.features[-3].out_channels, 1))
        else:
            raise ValueError(f"head must be 'classifier' or 'pool', got {head!r}")
        self.net = m

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.head == "pool":
            f = torch.flatten(nn.functional.adaptive_avg_pool2d(self.net.features(x), 1), 1)
            return self.net.classifier(f).squeeze(1)
        return self.net(x).squeeze(1)


class _TrainCrops(torch.utils.data.Dataset):
    """Item ``k`` = ``per_item`` of the fixed ``n_crops`` training crops of one image (one decode)."""

    def __init__(self, paths: Sequence[str], digests: Sequence[str], targets: np.ndarray, n_crops: int,
                 per_item: int, size: int, seed: int, upsample_small: bool):
        self.paths, self.digests = list(paths), list(digests)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.n_crops, self.per_item, self.size = int(n_crops), int(per_item), int(size)
        self.seed, self.upsample_small = int(seed), bool(upsample_small)
        self.chunks = -(-self.n_crops // self.per_item)

    def __len__(self) -> int:
        return len(self.paths) * self.chunks

    def __getitem__(self, k: int) -> dict[str, Any]:
        i, c = divmod(int(k), self.chunks)
        rng = derived_rng(self.seed, self.digests[i], 2)          # the image's fixed training crops
        crops = image_crops(load_image(self.paths[i]), self.n_crops, self.size, rng, self.paths[i],
                            self.upsample_small, select=slice(c * self.per_item, (c + 1) * self.per_item))
        part = torch.from_numpy(crops)
        return {"patches": part, "target": torch.full((len(part),), float(self.targets[i])), "index": i}


class _ValCrops(torch.utils.data.Dataset):
    """Item = the ``n_crops`` fixed test-style crops of one validation image."""

    def __init__(self, paths: Sequence[str], digests: Sequence[str], targets: np.ndarray, n_crops: int, size: int,
                 seed: int, upsample_small: bool):
        self.paths, self.digests = list(paths), list(digests)
        self.targets = np.asarray(targets, dtype=np.float32)
        self.n_crops, self.size, self.seed, self.upsample_small = int(n_crops), int(size), int(seed), upsample_small

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, i: int) -> dict[str, Any]:
        rng = derived_rng(self.seed, self.digests[i])             # same crops as predict() would take
        crops = image_crops(load_image(self.paths[i]), self.n_crops, self.size, rng, self.paths[i],
                            self.upsample_small)
        return {"patches": torch.from_numpy(crops), "image_target": float(self.targets[i]), "index": i}


def _collate_train(items: list[dict[str, Any]]) -> dict[str, Any]:
    return {"patches": torch.cat([it["patches"] for it in items]),
            "target": torch.cat([it["target"] for it in items]),
            "index": torch.tensor([it["index"] for it in items], dtype=torch.long)}


def _collate_val(items: list[dict[str, Any]]) -> dict[str, Any]:
    counts = torch.tensor([len(it["patches"]) for it in items], dtype=torch.long)
    return {"patches": torch.cat([it["patches"] for it in items]),
            "image_index": torch.repeat_interleave(torch.arange(len(items)), counts),
            "image_target": torch.tensor([it["image_target"] for it in items], dtype=torch.float32),
            "index": torch.tensor([it["index"] for it in items], dtype=torch.long)}


def _prep(x: torch.Tensor) -> torch.Tensor:
    x = normalize(x)
    if x.is_cuda:
        x = x.contiguous(memory_format=torch.channels_last)
    return x


class FineTunedCNN:
    """Fine-tuned ImageNet CNN regressor with the benchmark's method contract (``fit``/``predict``).

    ``epochs=None`` takes :data:`PAPER_EPOCHS`; ``n_train_crops=None`` takes :func:`crops_per_image`;
    ``head=None``: ``"classifier"``, or ``"pool"`` for AlexNet/VGG16 weights without classifier.
    ``val_fraction=0`` disables the validation split (fixed epochs, last epoch kept).
    """

    def __init__(self, arch: str = "mobilenet_v2", weights: Any = "imagenet", *, head: str | None = None,
                 epochs: int | None = None, lr: float = 1e-3, batch_size: int = 48, momentum: float = 0.9,
                 weight_decay: float = 5e-4, loss: str = "l1", dropout: float = 0.5,
                 n_train_crops: int | None = None, large_dataset: int = 3000, n_test_crops: int = 25,
                 crop_size: int | None = None, crops_per_item: int = 4, val_fraction: float = 0.1,
                 patience: int | None = 3, seed: int = 0, device: str | None = None, amp: bool = True,
                 work_dir: str | os.PathLike | None = None, num_workers: int | None = None,
                 upsample_small: bool = False, progress: bool = False):
        self.arch = arch.lower()
        if self.arch not in INPUT_SIZE:
            raise ValueError(f"unknown arch {arch!r}; supported: {', '.join(INPUT_SIZE)}")
        if loss not in ("l1", "l2"):
            raise ValueError(f"loss must be 'l1' or 'l2', got {loss!r}")
        self.weights, self.head, self.epochs, self.lr = weights, head, epochs, lr
        self.batch_size, self.momentum, self.weight_decay, self.loss = batch_size, momentum, weight_decay, loss
        self.dropout, self.n_train_crops, self.large_dataset = dropout, n_train_crops, large_dataset
        self.n_test_crops, self.crop_size, self.crops_per_item = n_test_crops, crop_size, crops_per_item
        self.val_fraction, self.patience, self.seed, self.device, self.amp = val_fraction, patience, seed, device, amp
        self.work_dir, self.num_workers, self.upsample_small, self.progress = work_dir, num_workers, upsample_small, progress

    # -- model --------------------------------------------------------------------------
    @property
    def size(self) -> int:
        return int(self.crop_size or INPUT_SIZE[self.arch])

    def build_model(self) -> RegressionCNN:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            backbone = build_backbone(self.arch, self.weights, seed=self.seed)
        info = weights_info(backbone)
        need = {"alexnet": "classifier.1", "vgg16": "classifier.0"}.get(self.arch)   # fc6
        head = self.head
        if head is None:
            head = "pool" if need and info.pretrained and not info.loaded(need) else "classifier"
        if head == "classifier" and need and info.pretrained and not info.loaded(need):
            raise WeightsError(f"{self.arch} head 'classifier' fine-tunes the pretrained fc layers, which "
                               f"{info.source} does not hold; use head='pool'")
        for w in caught:  # the 'pool' head replaces the classifier: its missing layers do not matter
            layers = str(w.message).split(" not in ")[0].split(", ")
            if head == "classifier" or not all(x.startswith("classifier") for x in layers):
                warnings.warn(w.message, w.category, stacklevel=2)
        self.weights_info_ = info
        self.head_ = head
        with torch.random.fork_rng(devices=[]):       # the new regression layer's init is seeded too
            torch.manual_seed(int(self.seed))
            return RegressionCNN(backbone, self.arch, head, self.dropout)

    def _loss(self, model: nn.Module, batch: dict[str, Any]) -> torch.Tensor:
        pred = model(_prep(batch["patches"])).float()
        if self.loss == "l1":
            return nn.functional.l1_loss(pred, batch["target"].float())
        return nn.functional.mse_loss(pred, batch["target"].float())

    def _val_srocc(self, amp: bool):
        from scipy.stats import spearmanr

        def metric(model: nn.Module, loader: Any, device: torch.device) -> float:
            preds, targets = [], []
            for batch in loader:
                x = _prep(batch["patches"].to(device))
                with autocast(device, amp):
                    out = model(x).float()
                n = len(batch["image_target"])
                preds.append(segment_mean(out, batch["image_index"].to(device), n).cpu().numpy())
                targets.append(batch["image_target"].numpy())
            p, t = np.concatenate(preds), np.concatenate(targets)
            if len(p) < 2 or np.ptp(p) == 0 or np.ptp(t) == 0:
                return -1.0
            rho = spearmanr(p, t).statistic
            return float(rho) if np.isfinite(rho) else -1.0

        return metric

    # -- method contract -----------------------------------------------------------------
    def fit(self, records: Any) -> "FineTunedCNN":
        paths = paths_of(records)
        target = targets_from_records(records)
        self.failures_: dict[str, str] = {}
        min_side = 1 if self.upsample_small else self.size
        bad = probe_images(paths, min_side, min_side)
        self.failures_.update(bad)
        ok = np.array([p not in bad for p in paths]) & np.isfinite(target)
        if ok.sum() < 2:
            raise ValueError(f"only {int(ok.sum())} usable training images; failures: {list(bad.items())[:5]}")
        idx = np.flatnonzero(ok)
        paths = [paths[i] for i in idx]
        target = target[idx]
        groups = (records["content"].to_numpy()[idx] if hasattr(records, "columns") and "content" in records.columns
                  else np.arange(len(idx)))
        self.y_min_, self.y_max_ = float(target.min()), float(target.max())
        span = self.y_max_ - self.y_min_ or 1.0
        y = (target - self.y_min_) / span                                   # Kim et al.: scores in [0, 1]
        digests = [file_digest(p) for p in paths]
        tr, va = content_split(groups, self.val_fraction, self.seed) if self.val_fraction > 0 else \
            (np.arange(len(paths)), np.zeros(0, dtype=np.int64))
        n_crops = int(self.n_train_crops or crops_per_image(len(paths), self.large_dataset))
        per_item = max(1, min(int(self.crops_per_item), n_crops, int(self.batch_size)))
        self.n_train_crops_ = n_crops
        self.train_images_ = [paths[i] for i in tr]
        self.val_images_ = [paths[i] for i in va]

        model = self.build_model()
        dev = select_device(self.device)
        workers = default_workers(dev, self.num_workers)
        train_ds = _TrainCrops([paths[i] for i in tr], [digests[i] for i in tr], y[tr], n_crops, per_item,
                               self.size, int(self.seed), bool(self.upsample_small))
        val = None
        if len(va):
            val_ds = _ValCrops([paths[i] for i in va], [digests[i] for i in va], y[va], int(self.n_test_crops),
                               self.size, int(self.seed), bool(self.upsample_small))
            val = torch.utils.data.DataLoader(val_ds, batch_size=max(1, int(self.batch_size) // int(self.n_test_crops)),
                                              shuffle=False, collate_fn=_collate_val, num_workers=workers)
        epochs = int(self.epochs if self.epochs is not None else PAPER_EPOCHS[self.arch])
        config = TrainConfig(max_epochs=epochs, patience=self.patience if len(va) else None, mode="max",
                             batch_size=max(1, int(self.batch_size) // per_item), collate_fn=_collate_train,
                             num_workers=workers, device=str(dev), amp=bool(self.amp), seed=int(self.seed),
                             work_dir=self.work_dir, resume=True, progress=bool(self.progress),
                             desc=f"fine-tune {self.arch}")
        trainer = Trainer(model, self._loss, sgd(self.lr, self.momentum, self.weight_decay), config,
                          val_metric=self._val_srocc(dev.type == "cuda" and bool(self.amp)),
                          run_key=self._run_key(paths, digests, y, tr, n_crops, per_item))
        self.train_result_ = trainer.fit(train_ds, val)
        self.model_ = trainer.model
        self.device_ = trainer.device
        return self

    def _run_key(self, paths: list[str], digests: list[str], y: np.ndarray, tr: np.ndarray, n_crops: int,
                 per_item: int) -> str:
        """Fingerprint of data + hyper-parameters (not ``epochs``/``patience``: a run may be extended)."""
        blob = json.dumps({
            "version": FINETUNE_VERSION, "arch": self.arch, "weights": self.weights_info_.ident, "head": self.head_,
            "lr": self.lr, "batch": self.batch_size, "momentum": self.momentum, "wd": self.weight_decay,
            "loss": self.loss, "dropout": self.dropout, "n_crops": n_crops, "per_item": per_item,
            "size": self.size, "val_fraction": self.val_fraction, "seed": self.seed,
            "upsample": bool(self.upsample_small), "test_crops": self.n_test_crops,
            "data": hashlib.sha256("|".join(f"{d}:{v:.8g}" for d, v in zip(digests, y)).encode()).hexdigest(),
            "train": hashlib.sha256(np.asarray(tr, dtype=np.int64).tobytes()).hexdigest(),
        }, sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()

    def predict(self, records: Any) -> np.ndarray:
        if not hasattr(self, "model_"):
            raise RuntimeError("FineTunedCNN.predict called before fit")
        paths = paths_of(records)
        out = np.full(len(paths), np.nan)
        fails: dict[str, str] = {}
        digests: list[str] = []
        todo: list[int] = []
        for i, p in enumerate(paths):
            try:
                digests.append(file_digest(p))
                todo.append(i)
            except OSError:
                fails[p] = "file not found" if not os.path.exists(p) else "unreadable file"
        span = self.y_max_ - self.y_min_ or 1.0
        for j, val, err in crop_outputs(self.model_, [paths[i] for i in todo], digests, n_crops=int(self.n_test_crops),
                                        size=self.size, seed=int(self.seed), upsample_small=bool(self.upsample_small),
                                        batch_size=int(self.batch_size), device=self.device_, amp=bool(self.amp),
                                        num_workers=self.num_workers, progress=bool(self.progress),
                                        desc=f"predict {self.arch}"):
            gi = todo[j]
            if err is not None:
                fails[paths[gi]] = err
            else:
                out[gi] = float(val[0]) * span + self.y_min_     # back to the training score scale
        self.failures_ = fails
        return out

    def save(self, path: str | os.PathLike) -> None:
        """Fitted weights and the score scaling, for use outside the benchmark."""
        torch.save({"arch": self.arch, "head": self.head_, "state_dict": self.model_.state_dict(),
                    "y_min": self.y_min_, "y_max": self.y_max_}, Path(path))
