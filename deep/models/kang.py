"""Kang, Ye, Li, Doermann, "Convolutional neural networks for no-reference image quality
assessment", CVPR 2014 (as described in papers 000 Sec. II-A and 001 Sec. III / Table I).

* Input: the grey image (MATLAB ``rgb2gray`` on ``[0, 255]``, :func:`features.imageio.rgb_to_gray`)
  after local contrast normalisation ``I^(i,j) = (I(i,j) - mu(i,j)) / (sigma(i,j) + C)``, with
  ``mu``/``sigma`` the mean and (population) standard deviation over the
  ``(2P+1) x (2Q+1)`` window, ``P = Q = 3`` (7x7), ``C = 1`` (Kang et al. Eq. 1-3); boundary:
  symmetric reflection (``scipy.ndimage`` ``mode="reflect"`` = MATLAB ``'symmetric'``).
  The whole image is normalised, then cut into 32x32 patches.
* Network: one conv layer of 50 7x7 kernels (32 -> 26x26 maps, no non-linearity), global max
  *and* min pooling of each map (100 values), FC-800, FC-800 (ReLU), linear output; dropout
  (0.5) on the second FC layer.  Parameters: 2,500 + 80,800 + 640,800 + 801 = 724,901.
* Training: every patch regressed onto its image's score with the L1 loss
  ``(1/N) sum |f(x_n) - y_n|`` (paper 001 Eq. 1; patches inherit the image score); SGD with
  momentum; patches are the non-overlapping 32x32 grid of each image (paper 000 Sec. II-A).
* Prediction: the mean of the patch scores over every non-overlapping patch.

Choices not fixed by the descriptions (stated): SGD lr 1e-2, momentum 0.9, weight decay 0;
mini-batches of 2 images x all their grid patches; targets scaled to ``[0, 1]``; best
validation epoch kept, patience 10 epochs, at most 100 epochs.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
from scipy.ndimage import uniform_filter
from torch import nn

from features.imageio import check_not_constant, rgb_to_gray

from ..losses import patchwise_l1
from ..patches import PatchDataset, extract_patches, sample_positions
from ..trainer import sgd
from ._base import TrainedIQA

__all__ = ["local_normalize", "kang_transform", "KangNet", "KangCNN"]


def local_normalize(gray: np.ndarray, P: int = 3, Q: int = 3, C: float = 1.0) -> np.ndarray:
    """Kang et al. Eq. 1-3: local mean/std over a ``(2P+1) x (2Q+1)`` window (reflect boundary)."""
    g = np.asarray(gray, dtype=np.float64)
    size = (2 * P + 1, 2 * Q + 1)
    mu = uniform_filter(g, size=size, mode="reflect")
    var = uniform_filter(g * g, size=size, mode="reflect") - mu * mu
    sigma = np.sqrt(np.maximum(var, 0.0))
    return (g - mu) / (sigma + C)


def kang_transform(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> ``1 x H x W`` float32 locally normalised grey image (constant images raise)."""
    gray = rgb_to_gray(rgb)
    check_not_constant(gray)
    return local_normalize(gray)[None].astype(np.float32)


class KangNet(nn.Module):
    """conv7-50 -> global max & min pooling -> FC-800 -> FC-800 -> 1."""

    def __init__(self, n_kernels: int = 50, kernel: int = 7, hidden: int = 800, dropout: float = 0.5):
        super().__init__()
        self.conv = nn.Conv2d(1, n_kernels, kernel)
        self.fc1 = nn.Linear(2 * n_kernels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = self.conv(x)
        mx = torch.amax(h, dim=(2, 3))
        mn = torch.amin(h, dim=(2, 3))
        h = torch.relu(self.fc1(torch.cat([mx, mn], dim=1)))
        h = self.drop(torch.relu(self.fc2(h)))
        return self.out(h).squeeze(-1)


class KangCNN(TrainedIQA):
    """Kang et al. 2014 with the method contract."""

    name = "kang_cnn"
    kind = "NR"
    PRESETS = {
        "paper": {"patch_size": 32, "n_patches": None, "batch_size": 2, "lr": 1e-2, "momentum": 0.9,
                  "max_epochs": 100, "patience": 10, "val_fraction": 0.2, "predict_patches": None,
                  "predict_chunk": 2048},
        "quick": {"patch_size": 32, "n_patches": 8, "batch_size": 4, "lr": 1e-2, "momentum": 0.9,
                  "max_epochs": 3, "patience": None, "val_fraction": 0.2, "predict_patches": 16,
                  "predict_chunk": 2048},
        "cpu": {"patch_size": 32, "n_patches": 16, "batch_size": 8, "lr": 1e-2, "momentum": 0.9,
                "max_epochs": 6, "patience": None, "val_fraction": 0.2, "predict_patches": 32,
                "predict_chunk": 2048},
    }

    def __init__(self, quick: bool = False, preset: str | None = None, max_epochs: int | None = None,
                 patience: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, n_patches: int | None = None,
                 val_fraction: float | None = None, seed: int = 0, device: str | None = None,
                 work_dir: Any = None, progress: bool = False):
        self.quick = quick
        self.preset = preset
        self.max_epochs = max_epochs
        self.patience = patience
        self.batch_size = batch_size
        self.lr = lr
        self.n_patches = n_patches
        self.val_fraction = val_fraction
        self.seed = seed
        self.device = device
        self.work_dir = work_dir
        self.progress = progress

    def _build_network(self, hp):
        return KangNet()

    def _transform(self, hp):
        return kang_transform

    def _datasets(self, hp, train, val):
        # Training: the non-overlapping grid (all of it, or a random subset of n_patches per epoch).
        kw = dict(patch_size=hp["patch_size"], n_patches=hp["n_patches"], sampling="grid",
                  transform=kang_transform, seed=int(self.seed))
        tr = PatchDataset(train["images"], train["targets"], **kw)
        va = PatchDataset(val["images"], val["targets"], fixed=True, **kw) if val is not None else None
        return tr, va

    def _loss(self, hp):
        def loss(model, batch):
            return patchwise_l1(model(batch["patches"]), batch["target"], batch["image_index"])

        return loss

    def _optimizer(self, hp):
        return sgd(lr=float(hp["lr"]), momentum=float(hp["momentum"]))

    def _predict_arrays(self, model, image, ref, hp, device) -> float:
        p = hp["patch_size"]
        n = hp.get("predict_patches")
        pos = sample_positions(image.shape[-2], image.shape[-1], p, n, "grid", None)
        ys = []
        for sl in self._chunks(len(pos), int(hp["predict_chunk"])):
            x = torch.from_numpy(extract_patches(image, pos[sl], p)).to(device)
            with self._autocast(device):
                ys.append(model(x).float())
        return float(torch.cat(ys).mean())
