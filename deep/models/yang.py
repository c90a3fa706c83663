"""Siamese NR-IQA with a ranking loss and quality attributes: Yang, Peltoketo, Kaemaeraeinen,
"CNN-based cross-dataset no-reference image quality assessment" (ICCVW 2019, paper 004).

* A *core network* shared by the two branches of the Siamese structure (Sec. 3, Fig. 1); here
  the branches are the images of one mini-batch (weight sharing = one network), and every pair
  of the batch that the data allow enters the ranking term.
* Loss (Sec. 3.1): Euclidean loss on the score plus the pair-wise ranking hinge loss
  ``1/(2N) sum_{i,j} max(0, alpha - delta(t_i >= t_j)(y_i - y_j))`` (Eq. 1-2, margin ``alpha``).
  Pairs are images of the same content where the dataset has content ids shared by several
  images ("only image pairs capturing the same scene were mixed"); batches are then built from
  whole content groups (:class:`deep.samplers.GroupedBatchSampler`).  When every image is its own
  content (authentic databases) all pairs of a batch are used.
* Quality attributes (Sec. 3.4, Fig. 2): extra outputs regressing S3 sharpness, tone (5th and
  95th percentiles of the luma) and colourfulness (Hasler & Suesstrunk) of the image, computed
  by :mod:`features.cues` (through the feature cache) and z-scored on the training set;
  Euclidean loss, weighted ``lambda_MOS / lambda_attr = 2 / 1`` (Table 6, best setting).
* Core (``core``): ``"kim"`` = the image-wise CNN of Kim et al. 2017 (:class:`KimNet`, trained
  from scratch), or an ImageNet backbone of :mod:`deep.backbones` (``"vgg16"``, the paper's
  VGGNet core, ``"alexnet"``, ``"resnet50"``, ``"mobilenet_v2"``) whose convolutional trunk is
  followed by global average pooling and linear heads; backbone inputs are ImageNet-normalised.
  Training is patch-wise, the VGGNet procedure of Sec. 3.3 (BIECON's): "each training image was
  randomly divided into patches of the same size and each patch was assigned the same quality
  score as the training image"; every patch is a sample of the Euclidean loss (its image's
  score) and of the attribute loss (its image's attributes), and the ranking pairs are patches
  of two *different* images (of the same content where contents repeat: the Siamese branches
  see two images).  "For test images the patch scores are averaged": a test image's score is
  the mean over its non-overlapping crops.

Choices the paper leaves open (stated): margin ``alpha = 0.05`` on targets scaled to ``[0, 1]``;
Euclidean and ranking terms weighted 1:1 inside ``lambda_MOS``; Adam (lr 1e-4 for backbones and
the Kim core); 4 random crops per image per epoch, 8 images per batch (2 contents x 4 images when
content groups exist); the best epoch by the validation SROCC of the image scores is kept and
drives early stopping (patience 10, at most 60 epochs in the ``paper`` preset): the validation
loss is dominated by the attribute terms and the ranking hinge, not the score's accuracy.  The
paper's best core (ILGNet pre-trained on AVA) is not available here.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from ..batches import PatchBatches
from ..losses import euclidean_loss, ranking_hinge_loss
from ..positions import gather_patches, sample_positions
from ..samplers import GroupedBatchSampler
from ..segments import segment_mean
from ..trainer import adam
from ._base import TrainedIQA
from .kim import KimNet

__all__ = ["YangNet", "YangSiamese", "ATTRIBUTE_NAMES", "CUE_COLUMNS", "yang_loss"]

ATTRIBUTE_NAMES = ("s3", "tone_p5", "tone_p95", "colourfulness")
CUE_COLUMNS = (0, 2, 3, 4)   # of features.cues.extract: [s3, fish, tone_p5, tone_p95, colourfulness]
_TRUNK_DIMS = {"alexnet": 256, "vgg16": 512, "resnet50": 2048, "mobilenet_v2": 1280}


class YangNet(nn.Module):
    """Core network + score head (+ attribute head): ``forward(x) -> (score (N,), attrs (N, k) | None)``."""

    def __init__(self, core: str = "kim", n_attributes: int = len(ATTRIBUTE_NAMES), weights: Any = "imagenet",
                 seed: int = 0):
        super().__init__()
        self.core_name = core
        if core == "kim":
            self.core = KimNet()
            dim = self.core.dim
            self.normalise = False
        else:
            from ..backbones import build_backbone

            if core not in _TRUNK_DIMS:
                raise ValueError(f"core must be 'kim' or one of {sorted(_TRUNK_DIMS)}, got {core!r}")
            net = build_backbone(core, weights, seed=seed)
            if core == "resnet50":
                trunk = nn.Sequential(*list(net.children())[:-2])
            else:
                trunk = net.features
            self.core = nn.Sequential(trunk, nn.AdaptiveAvgPool2d(1), nn.Flatten())
            dim = _TRUNK_DIMS[core]
            self.normalise = True
        self.score = nn.Linear(dim, 1)
        self.attributes = nn.Linear(dim, n_attributes) if n_attributes else None

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        if self.core_name == "kim":
            return self.core.embed(x)
        from ..backbones import normalize

        return self.core(normalize(x))

    def forward(self, x: torch.Tensor):
        f = self.embed(x)
        a = self.attributes(f) if self.attributes is not None else None
        return self.score(f).squeeze(-1), a


def yang_loss(score: torch.Tensor, target: torch.Tensor, margin: float, groups: torch.Tensor | None,
              attrs: torch.Tensor | None = None, attr_target: torch.Tensor | None = None,
              lambda_mos: float = 2.0, lambda_attr: float = 1.0, exclude: torch.Tensor | None = None) -> torch.Tensor:
    """``lambda_MOS (Euclidean + ranking Eq. 1-2) + lambda_attr Euclidean(attributes)`` over the
    rows of ``score`` (patches in patch-wise training; ``exclude``: their image index)."""
    loss = lambda_mos * (euclidean_loss(score, target)
                         + ranking_hinge_loss(score, target, margin, groups, exclude))
    if attrs is not None and attr_target is not None:
        loss = loss + lambda_attr * euclidean_loss(attrs, attr_target)
    return loss


class YangSiamese(TrainedIQA):
    """Yang et al. 2019 Siamese rank + attribute regressor with the method contract."""

    name = "yang_siamese"
    kind = "NR"
    TRAINING_VERSION = "4"
    PRESETS = {
        "paper": {"core": "vgg16", "patch_size": 224, "n_patches": 4, "batch_size": 8, "per_group": 4,
                  "lr": 1e-4, "max_epochs": 60, "patience": 10, "val_fraction": 0.2, "margin": 0.05,
                  "lambda_mos": 2.0, "lambda_attr": 1.0, "stop_on": "srocc", "predict_patches": None,
                  "predict_chunk": 64},
        "quick": {"core": "kim", "patch_size": 64, "n_patches": 2, "batch_size": 8, "per_group": 4,
                  "lr": 1e-3, "max_epochs": 2, "patience": None, "val_fraction": 0.2, "margin": 0.05,
                  "lambda_mos": 2.0, "lambda_attr": 1.0, "stop_on": "loss", "predict_patches": 4,
                  "predict_chunk": 64},
        "cpu": {"core": "kim", "patch_size": 112, "n_patches": 4, "batch_size": 8, "per_group": 4,
                "lr": 3e-4, "max_epochs": 150, "patience": 15, "val_fraction": 0.2, "margin": 0.05,
                "lambda_mos": 2.0, "lambda_attr": 1.0, "stop_on": "srocc", "predict_patches": None,
                "predict_chunk": 64},
    }

    def __init__(self, quick: bool = False, preset: str | None = None, core: str | None = None, attributes: bool = True,
                 weights: Any = "imagenet", margin: float | None = None, patch_size: int | None = None,
                 max_epochs: int | None = None, patience: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, n_patches: int | None = None, val_fraction: float | None = None,
                 cache_dir: Any = True, n_jobs: int = 1, seed: int = 0, device: str | None = None,
                 work_dir: Any = None, progress: bool = False):
        self.quick = quick
        self.preset = preset
        self.core = core
        self.attributes = attributes
        self.weights = weights
        self.margin = margin
        self.patch_size = patch_size
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.n_patches = n_patches
        self.val_fraction = val_fraction
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.seed = seed
        self.device = device
        self.work_dir = work_dir
        self.progress = progress

    def hyper_parameters(self) -> dict[str, Any]:
        hp = super().hyper_parameters()
        hp["attributes"] = bool(self.attributes)
        if hp["core"] != "kim":
            hp["weights"] = str(self.weights)
        return hp

    def _build_network(self, hp):
        n_attr = len(ATTRIBUTE_NAMES) if hp["attributes"] else 0
        return YangNet(hp["core"], n_attr, weights=self.weights, seed=int(self.seed))

    def _extras(self, hp, paths):
        if not hp["attributes"]:
            return None, {}
        from features.extraction import extract_features

        res = extract_features(paths, "cues", cache=self.cache_dir, n_jobs=self.n_jobs,
                               progress=bool(self.progress), desc="quality attributes (cues)")
        cues = res.X[:, list(CUE_COLUMNS)] if res.X.shape[1] else np.full((len(paths), len(CUE_COLUMNS)), np.nan)
        ok = np.all(np.isfinite(cues), axis=1)
        if ok.sum() < 2:
            return cues, {p: f"quality attributes: {r}" for p, r in res.failures.items()}
        mean, std = cues[ok].mean(axis=0), cues[ok].std(axis=0)
        std[std == 0] = 1.0
        self.attribute_mean_, self.attribute_std_ = mean, std
        return (cues - mean) / std, {p: f"quality attributes: {r}" for p, r in res.failures.items()}

    def _datasets(self, hp, bank, train, val):
        kw = dict(patch_size=hp["patch_size"], n_patches=hp["n_patches"], sampling="random", seed=int(self.seed),
                  batch_size=int(hp["batch_size"]))
        tr = PatchBatches(bank, train["ids"], train["targets"], extras=train["extras"], groups=train["groups"],
                          batch_sampler=self._batch_sampler(hp, train["groups"]), **kw)
        va = (PatchBatches(bank, val["ids"], val["targets"], extras=val["extras"], groups=val["groups"], fixed=True,
                           keep_patches=True, **kw) if val is not None else None)
        return tr, va

    def _batch_sampler(self, hp, groups):
        groups = np.asarray(groups)
        _, counts = np.unique(groups, return_counts=True)
        self.pairs_ = "same content" if counts.max(initial=0) > 1 else "all pairs in a batch"
        if counts.max(initial=0) <= 1:
            return None
        per = int(hp["per_group"])
        return GroupedBatchSampler(groups, groups_per_batch=max(1, int(hp["batch_size"]) // per), per_group=per,
                                   seed=int(self.seed))

    def _forward(self, hp):
        return lambda model, batch: model(batch["patches"])

    def _loss_from(self, hp):
        margin, lm, la = float(hp["margin"]), float(hp["lambda_mos"]), float(hp["lambda_attr"])

        def loss(out, batch):
            # patch-wise (Sec. 3.3): every patch carries its image's score and attributes
            y, a = out
            img = batch["image_index"]
            same_content = getattr(self, "pairs_", "") == "same content" and "group" in batch
            groups = batch["group"][img] if same_content else None
            extra = batch.get("extra")
            return yang_loss(y, batch["target"][img], margin, groups, a,
                             extra[img] if extra is not None else None, lm, la, exclude=img)

        return loss

    def _scores_from(self, hp):
        return lambda out, batch: segment_mean(out[0].float(), batch["image_index"], len(batch["counts"]))

    def _optimizer(self, hp):
        return adam(lr=float(hp["lr"]))

    def _predict_image(self, model, image, ref, hp, device, path) -> float:
        p = hp["patch_size"]
        pos = torch.from_numpy(sample_positions(image.shape[-2], image.shape[-1], p, hp.get("predict_patches"),
                                                "grid", None))
        ys = []
        for sl in self._chunks(len(pos), int(hp["predict_chunk"])):
            x = gather_patches(image, pos[sl, 0], pos[sl, 1], p).to(device).float().div_(255.0)
            with self._autocast(device):
                ys.append(model(x)[0].float())
        return float(torch.cat(ys).mean())
