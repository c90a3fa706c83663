"""deepIQA / WaDIQaM (Bosse, Maniry, Mueller, Wiegand, Samek, IEEE TIP 2018; paper 002).

Network (Sec. III-A): conv3-32, conv3-32, maxpool, conv3-64, conv3-64, maxpool, conv3-128,
conv3-128, maxpool, conv3-256, conv3-256, maxpool, conv3-512, conv3-512, maxpool (3x3
kernels, zero padding, ReLU, 2x2 max pooling) on 32x32 RGB patches -> a 512-d feature;
regression FC-512 (ReLU, dropout 0.5) -> FC-1.  About 5.2 M parameters with the weighting
branch (4.98 M without).

* NR patchwise: ``q = mean_i y_i`` (Eq. 1), trained with the patch-wise MAE (Eq. 2).
* NR weighted (WaDIQaM-NR): a parallel branch FC-512 (ReLU, dropout) -> FC-1 gives ``alpha_i``;
  ``alpha*_i = max(0, alpha_i) + eps`` (Eq. 3), ``q = sum_i p_i y_i`` (Eq. 4-5), loss Eq. 6.
* FR (WaDIQaM-FR / DIQaM-FR): Siamese feature extraction with shared weights on reference and
  distorted patches taken at the same positions; fusion ``f_r - f_d``, ``concat(f_r, f_d)`` or
  ``concat(f_r, f_d, f_r - f_d)`` (Sec. III-D; the last is the paper's choice) feeds both branches.

Training recipe (Sec. III-D): 32 random 32x32 patches per image, resampled every epoch;
mini-batches of 4 images (128 patches); Adam (lr 1e-4, beta 0.9/0.999, eps 1e-8); validation
loss on 32 patches per validation image sampled once; the best-validation model is kept.

Registered variants (``benchmark.methods.deep_iqa``): DIQaM-NR / WaDIQaM-NR, DIQaM-FR /
WaDIQaM-FR with the paper's fusion, and the other two fusions of Table IV for both poolings
(``deepiqa_fr_{patchwise,weighted}_{diff,concat}``).

Conventions / deviations (stated): He-normal initialisation (:func:`deep.models._base.he_init`;
the paper does not state one); input RGB scaled to ``[0, 1]`` (a linear rescale; the paper
feeds unnormalised patches); targets min-max scaled to ``[0, 1]`` on the training set (see
:mod:`deep.models._base`); the paper trains 3000 epochs and keeps the best-validation model -
the ``paper`` preset stops after ``patience=50`` epochs without improvement of the validation
loss (same selected model whenever the best epoch comes before that) to bound run time.

Test patches: by default every non-overlapping 32x32 patch (the paper's "complete set",
Sec. III-B: all pixels considered, reproducible); ``n_predict_patches=32`` gives the papers'
tables' protocol, ``N_p = 32`` random patches per image (Sec. IV-A, Fig. 3), drawn from a
generator seeded by ``seed`` and the image file's SHA-256 (the same patches for an image
whatever the order of the records).  It only changes prediction: ``set_params(n_predict_patches=32)``
on a fitted model predicts the other way without retraining.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .._utils import derived_rng
from ..batches import PatchBatches
from ..losses import BOSSE_EPS, patchwise_l1, weighted_average, weighted_l1
from ..positions import gather_patches, sample_positions
from ..segments import segment_mean
from ..trainer import adam
from ._base import TrainedIQA, he_init

__all__ = ["DeepIQANet", "DeepIQA", "FUSIONS", "count_parameters"]

FUSIONS = ("diff", "concat", "concat3")
_CHANNELS = (32, 32, "M", 64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M")


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def _features() -> nn.Sequential:
    layers: list[nn.Module] = []
    c_in = 3
    for c in _CHANNELS:
        if c == "M":
            layers.append(nn.MaxPool2d(2))
        else:
            layers += [nn.Conv2d(c_in, int(c), 3, padding=1), nn.ReLU(inplace=True)]
            c_in = int(c)
    return nn.Sequential(*layers)


def _branch(d_in: int, dropout: float) -> nn.Sequential:
    return nn.Sequential(nn.Linear(d_in, 512), nn.ReLU(inplace=True), nn.Dropout(dropout), nn.Linear(512, 1))


class DeepIQANet(nn.Module):
    """The deepIQA network: ``forward(patches, ref=None) -> (y, alpha or None)``, both ``(N,)``."""

    def __init__(self, fr: bool = False, weighted: bool = True, fusion: str = "concat3", dropout: float = 0.5):
        super().__init__()
        if fusion not in FUSIONS:
            raise ValueError(f"fusion must be one of {FUSIONS}, got {fusion!r}")
        self.fr, self.weighted, self.fusion = bool(fr), bool(weighted), fusion
        self.features = _features()
        d = 512 if not fr else {"diff": 512, "concat": 1024, "concat3": 1536}[fusion]
        self.quality = _branch(d, dropout)
        self.weight = _branch(d, dropout) if weighted else None
        he_init(self)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """32x32 patches -> 512-d features (the five pools reduce 32 -> 1)."""
        return torch.flatten(self.features(x), 1)

    def fuse(self, f_r: torch.Tensor, f_d: torch.Tensor) -> torch.Tensor:
        if self.fusion == "diff":
            return f_r - f_d
        if self.fusion == "concat":
            return torch.cat([f_r, f_d], dim=1)
        return torch.cat([f_r, f_d, f_r - f_d], dim=1)

    def forward(self, patches: torch.Tensor, ref: torch.Tensor | None = None):
        f = self.embed(patches)
        if self.fr:
            if ref is None:
                raise ValueError("the FR network needs reference patches")
            f = self.fuse(self.embed(ref), f)
        y = self.quality(f).squeeze(-1)
        alpha = self.weight(f).squeeze(-1) if self.weight is not None else None
        return y, alpha


class DeepIQA(TrainedIQA):
    """deepIQA with the method contract (``fit(records)`` / ``predict(records)``).

    ``weighted=False`` = DIQaM (patchwise, Eq. 1-2), ``True`` = WaDIQaM (Eq. 3-6);
    ``fr=True`` = the Siamese FR variant (records need ``ref``), ``fusion`` in :data:`FUSIONS`.
    """

    TRAINING_VERSION = "4"
    PRESETS = {
        "paper": {"patch_size": 32, "n_patches": 32, "batch_size": 4, "lr": 1e-4, "max_epochs": 3000,
                  "patience": 50, "val_fraction": 0.25, "dropout": 0.5, "stop_on": "loss",
                  "predict_patches": None, "predict_chunk": 1024},
        "quick": {"patch_size": 32, "n_patches": 4, "batch_size": 4, "lr": 3e-4, "max_epochs": 2,
                  "patience": None, "val_fraction": 0.2, "dropout": 0.5, "stop_on": "loss",
                  "predict_patches": 8, "predict_chunk": 1024},
        "cpu": {"patch_size": 32, "n_patches": 32, "batch_size": 4, "lr": 1e-4, "max_epochs": 300,
                "patience": 20, "val_fraction": 0.2, "dropout": 0.5, "stop_on": "loss",
                "predict_patches": None, "predict_chunk": 1024},
    }

    def __init__(self, weighted: bool = True, fr: bool = False, fusion: str = "concat3", quick: bool = False, preset: str | None = None,
                 max_epochs: int | None = None, patience: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, n_patches: int | None = None, n_predict_patches: int | None = None,
                 val_fraction: float | None = None, dropout: float | None = None, seed: int = 0,
                 device: str | None = None, work_dir: Any = None, progress: bool = False):
        self.weighted = weighted
        self.fr = fr
        self.fusion = fusion
        self.quick = quick
        self.preset = preset
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.n_patches = n_patches
        self.n_predict_patches = n_predict_patches
        self.val_fraction = val_fraction
        self.dropout = dropout
        self.seed = seed
        self.device = device
        self.work_dir = work_dir
        self.progress = progress

    @property
    def name(self) -> str:  # type: ignore[override]
        base = f"deepiqa_{'fr' if self.fr else 'nr'}_{'weighted' if self.weighted else 'patchwise'}"
        return base + (f"_{self.fusion}" if self.fr and self.fusion != "concat3" else "")

    @property
    def kind(self) -> str:  # type: ignore[override]
        return "FR" if self.fr else "NR"

    def hyper_parameters(self) -> dict[str, Any]:
        hp = super().hyper_parameters()
        hp.update(weighted=bool(self.weighted), fr=bool(self.fr), fusion=self.fusion)
        if self.n_predict_patches is not None:
            hp["predict_patches"] = int(self.n_predict_patches)
        return hp

    def _build_network(self, hp: dict[str, Any]) -> nn.Module:
        return DeepIQANet(fr=hp["fr"], weighted=hp["weighted"], fusion=hp["fusion"], dropout=hp["dropout"])

    def _datasets(self, hp, bank, train, val):
        kw = dict(patch_size=hp["patch_size"], n_patches=hp["n_patches"], sampling="random", seed=int(self.seed),
                  batch_size=int(hp["batch_size"]))
        tr = PatchBatches(bank, train["ids"], train["targets"], ref_ids=train["ref_ids"], **kw)
        va = None
        if val is not None:   # fixed validation patches, sampled once (Sec. III-D)
            va = PatchBatches(bank, val["ids"], val["targets"], ref_ids=val["ref_ids"], fixed=True, keep_patches=True,
                              **kw)
        return tr, va

    def _forward(self, hp):
        return lambda model, batch: model(batch["patches"], batch.get("ref"))

    def _loss_from(self, hp):
        weighted = hp["weighted"]

        def loss(out, batch: dict) -> torch.Tensor:
            y, alpha = out
            if weighted:
                return weighted_l1(y, alpha, batch["target"], batch["image_index"])      # Eq. 6
            return patchwise_l1(y, batch["target"], batch["image_index"])                # Eq. 2

        return loss

    def _scores_from(self, hp):
        weighted = hp["weighted"]

        def scores(out, batch: dict) -> torch.Tensor:
            y, alpha = out
            n = len(batch["counts"])
            if weighted:
                return weighted_average(y, alpha, batch["image_index"], n, BOSSE_EPS)    # Eq. 4
            return segment_mean(y.float(), batch["image_index"], n)                      # Eq. 1

        return scores

    def _optimizer(self, hp):
        return adam(lr=float(hp["lr"]))

    def _predict_image(self, model, image, ref, hp, device, path) -> float:
        p = hp["patch_size"]
        h, w = image.shape[-2:]
        n = hp.get("predict_patches")
        if n is None:
            pos = sample_positions(h, w, p, None, "grid", None)     # every non-overlapping patch
        else:                                                        # N_p random patches (Sec. IV-A)
            from features.cache import file_digest

            pos = sample_positions(h, w, p, int(n), "random", derived_rng(int(self.seed), file_digest(path), 3))
        pos = torch.from_numpy(pos)
        ys, alphas = [], []
        for sl in self._chunks(len(pos), int(hp["predict_chunk"])):
            x = gather_patches(image, pos[sl, 0], pos[sl, 1], p).to(device).float().div_(255.0)
            r = gather_patches(ref, pos[sl, 0], pos[sl, 1], p).to(device).float().div_(255.0) if ref is not None else None
            with self._autocast(device):
                y, a = model(x, r)
            ys.append(y.float())
            if a is not None:
                alphas.append(a.float())
        y = torch.cat(ys)
        seg = torch.zeros(len(y), dtype=torch.long, device=y.device)
        if hp["weighted"]:
            return float(weighted_average(y, torch.cat(alphas), seg, 1, BOSSE_EPS)[0])   # Eq. 4
        return float(y.mean())                                                          # Eq. 1

