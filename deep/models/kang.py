"""Kang, Ye, Li, Doermann, "Convolutional neural networks for no-reference image quality
assessment", CVPR 2014 (as described in papers 000 Sec. II-A and 001 Sec. III / Table I).

* Input: the grey image (MATLAB ``rgb2gray`` on ``[0, 255]``, :func:`features.imageio.rgb_to_gray`)
  after local contrast normalisation ``I^(i,j) = (I(i,j) - mu(i,j)) / (sigma(i,j) + C)``, with
  ``mu``/``sigma`` the mean and (population) standard deviation over the
  ``(2P+1) x (2Q+1)`` window, ``P = Q = 3`` (7x7), ``C = 1`` (Kang et al. Eq. 1-3); boundary:
  symmetric reflection (``scipy.ndimage`` ``mode="reflect"`` = MATLAB ``'symmetric'``).
  The whole image is normalised (float64), then cut into 32x32 patches.  The normalised image
  is what the trainer keeps in memory, as float16 (:func:`kang_encode`; values lie within
  ``+-sqrt(48)``, float16 keeps 11 significant bits: an absolute error below 0.004; prediction
  uses the same float16 values), so an epoch only cuts patches.
* Network: one conv layer of 50 7x7 kernels (32 -> 26x26 maps, no non-linearity), global max
  *and* min pooling of each map (100 values), FC-800, FC-800 (ReLU), linear output; dropout
  (0.5) on the second FC layer.  Parameters: 2,500 + 80,800 + 640,800 + 801 = 724,901.
  The conv + max/min pooling is one autograd function (:class:`ConvMaxMin`) whose backward
  pass uses only the two selected positions per map (the gradient autograd gives, without a
  dense 26x26 gradient map and a full conv backward).
* Training: every patch regressed onto its image's score with the L1 loss
  ``(1/N) sum |f(x_n) - y_n|`` (paper 001 Eq. 1; patches inherit the image score); SGD with
  momentum; patches are the non-overlapping 32x32 grid of each image (paper 000 Sec. II-A).
* Prediction: the mean of the patch scores over every non-overlapping patch.

Choices not fixed by the descriptions (stated): SGD lr 1e-2, momentum 0.9, weight decay 0;
mini-batches of 2 images x all their grid patches; targets scaled to ``[0, 1]``; best
validation epoch kept (validation loss), patience 10 epochs, at most 100 epochs.  The ``cpu``
preset: see :attr:`KangCNN.PRESETS` and the README.
"""
from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from scipy.ndimage import uniform_filter
from torch import nn

from features.imageio import check_not_constant, rgb_to_gray

from ..batches import PatchBatches, as_float32
from ..losses import patchwise_l1
from ..positions import gather_patches, sample_positions
from ..segments import segment_mean
from ..trainer import adam, sgd
from ._base import TrainedIQA

__all__ = ["local_normalize", "kang_encode", "KangNet", "KangCNN", "ConvMaxMin"]


def local_normalize(gray: np.ndarray, P: int = 3, Q: int = 3, C: float = 1.0) -> np.ndarray:
    """Kang et al. Eq. 1-3: local mean/std over a ``(2P+1) x (2Q+1)`` window (reflect boundary)."""
    g = np.asarray(gray, dtype=np.float64)
    size = (2 * P + 1, 2 * Q + 1)
    mu = uniform_filter(g, size=size, mode="reflect")
    var = uniform_filter(g * g, size=size, mode="reflect") - mu * mu
    sigma = np.sqrt(np.maximum(var, 0.0))
    return (g - mu) / (sigma + C)


def kang_encode(rgb: np.ndarray) -> np.ndarray:
    """RGB uint8 -> ``1 x H x W`` float16 locally normalised grey image (what the trainer holds;
    constant images raise :class:`~features.imageio.ImageError`)."""
    gray = rgb_to_gray(rgb)
    check_not_constant(gray)
    return local_normalize(gray)[None].astype(np.float16)


class ConvMaxMin(torch.autograd.Function):
    """``conv2d(x, weight, bias)`` followed by the global max and min of each map -> ``(N, 2K)``
    (max of the K maps, then their min).  Backward: the gradient flows only through the
    selected positions (as autograd's ``max``/``min``), computed from the input windows there."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cuda", cast_inputs=torch.float32)     # float32 under CUDA autocast
    def forward(ctx, x, weight, bias):
        h = F.conv2d(x, weight, bias).flatten(2)                  # (N, K, L)
        mx, imx = h.max(dim=2)
        mn, imn = h.min(dim=2)
        ctx.save_for_backward(x, weight, imx, imn)
        ctx.map_w = x.shape[3] - weight.shape[3] + 1
        return torch.cat([mx, mn], dim=1)

    @staticmethod
    @torch.amp.custom_bwd(device_type="cuda")
    def backward(ctx, grad):
        x, weight, imx, imn = ctx.saved_tensors
        n, c, kh, kw = x.shape[0], x.shape[1], weight.shape[2], weight.shape[3]
        k = weight.shape[0]
        g = torch.stack([grad[:, :k], grad[:, k:]], dim=2)       # (N, K, 2): max, min
        idx = torch.stack([imx, imn], dim=2)                      # (N, K, 2) flat map positions
        rows, cols = idx // ctx.map_w, idx % ctx.map_w
        grad_x = grad_w = grad_b = None
        if ctx.needs_input_grad[1]:
            # windows of x at the selected positions: (N, K, 2, C, kh, kw)
            ar_h = torch.arange(kh, device=x.device)
            ar_w = torch.arange(kw, device=x.device)
            r = (rows[..., None] + ar_h)[..., :, None]            # (N, K, 2, kh, 1)
            cc = (cols[..., None] + ar_w)[..., None, :]           # (N, K, 2, 1, kw)
            nn_ = torch.arange(n, device=x.device).view(n, 1, 1, 1, 1)
            win = torch.stack([x[nn_, ch, r, cc] for ch in range(c)], dim=3)   # (N, K, 2, C, kh, kw)
            grad_w = torch.einsum("nkt,nktcij->kcij", g, win)
        if ctx.needs_input_grad[2]:
            grad_b = g.sum(dim=(0, 2))
        if ctx.needs_input_grad[0]:
            dense = torch.zeros(n, k, (x.shape[2] - kh + 1) * ctx.map_w, dtype=grad.dtype, device=grad.device)
            dense.scatter_add_(2, idx, g)
            dense = dense.view(n, k, x.shape[2] - kh + 1, ctx.map_w)
            grad_x = torch.nn.grad.conv2d_input(x.shape, weight, dense)
        return grad_x, grad_w, grad_b


class KangNet(nn.Module):
    """conv7-50 -> global max & min pooling -> FC-800 -> FC-800 -> 1."""

    def __init__(self, n_kernels: int = 50, kernel: int = 7, hidden: int = 800, dropout: float = 0.5):
        super().__init__()
        self.conv = nn.Conv2d(1, n_kernels, kernel)
        self.fc1 = nn.Linear(2 * n_kernels, hidden)
        self.fc2 = nn.Linear(hidden, hidden)
        self.drop = nn.Dropout(dropout)
        self.out = nn.Linear(hidden, 1)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 1, 32, 32)`` -> ``(N, 100)``: the max, then the min, of each of the 50 maps."""
        return ConvMaxMin.apply(x, self.conv.weight, self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        h = torch.relu(self.fc1(self.pooled(x)))
        h = self.drop(torch.relu(self.fc2(h)))
        return self.out(h).squeeze(-1)


class KangCNN(TrainedIQA):
    """Kang et al. 2014 with the method contract."""

    name = "kang_cnn"
    kind = "NR"
    TRAINING_VERSION = "4"
    PRESETS = {
        "paper": {"patch_size": 32, "n_patches": None, "batch_size": 2, "optimizer": "sgd", "lr": 1e-2, "momentum": 0.9,
                  "max_epochs": 100, "patience": 10, "val_fraction": 0.2, "stop_on": "loss",
                  "predict_patches": None, "predict_chunk": 2048},
        "quick": {"patch_size": 32, "n_patches": 8, "batch_size": 4, "optimizer": "sgd", "lr": 1e-2, "momentum": 0.9,
                  "max_epochs": 3, "patience": None, "val_fraction": 0.2, "stop_on": "loss",
                  "predict_patches": 16, "predict_chunk": 2048},
        "cpu": {"patch_size": 32, "n_patches": 32, "batch_size": 8, "optimizer": "sgd", "lr": 1e-2, "momentum": 0.9,
                "max_epochs": 100, "patience": 10, "val_fraction": 0.2, "stop_on": "loss",
                "predict_patches": None, "predict_chunk": 2048},
    }

    def __init__(self, quick: bool = False, preset: str | None = None, max_epochs: int | None = None,
                 patience: int | None = None,
                 batch_size: int | None = None, lr: float | None = None, n_patches: int | None = None,
                 optimizer: str | None = None, val_fraction: float | None = None, seed: int = 0,
                 device: str | None = None, work_dir: Any = None, progress: bool = False):
        self.quick = quick
        self.optimizer = optimizer
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

    def _encode(self, hp):
        return kang_encode

    def _to_input(self, hp):
        return as_float32

    def _datasets(self, hp, bank, train, val):
        # Training: the non-overlapping grid (all of it, or a random subset of n_patches per epoch).
        kw = dict(patch_size=hp["patch_size"], n_patches=hp["n_patches"], sampling="grid", seed=int(self.seed),
                  to_input=as_float32, batch_size=int(hp["batch_size"]))
        tr = PatchBatches(bank, train["ids"], train["targets"], **kw)
        va = PatchBatches(bank, val["ids"], val["targets"], fixed=True, **kw) if val is not None else None
        return tr, va

    def _forward(self, hp):
        return lambda model, batch: model(batch["patches"])

    def _loss_from(self, hp):
        return lambda y, batch: patchwise_l1(y, batch["target"], batch["image_index"])

    def _scores_from(self, hp):
        return lambda y, batch: segment_mean(y.float(), batch["image_index"], len(batch["counts"]))

    def _optimizer(self, hp):
        if hp.get("optimizer", "sgd") == "adam":
            return adam(lr=float(hp["lr"]))
        return sgd(lr=float(hp["lr"]), momentum=float(hp["momentum"]))

    def _predict_image(self, model, image, ref, hp, device, path) -> float:
        p = hp["patch_size"]
        n = hp.get("predict_patches")
        pos = torch.from_numpy(sample_positions(image.shape[-2], image.shape[-1], p, n, "grid", None))
        ys = []
        for sl in self._chunks(len(pos), int(hp["predict_chunk"])):
            x = gather_patches(image, pos[sl, 0], pos[sl, 1], p).to(device).float()
            with self._autocast(device):
                ys.append(model(x).float())
        return float(torch.cat(ys).mean())
