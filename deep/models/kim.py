"""Image-wise CNN baseline of Kim, Zeng, Ghadiyaram, Lee, Zhang, Bovik (IEEE SPM 2017, paper 001,
Sec. V "direct training").

* Network: Conv-48, Conv-48/2, Conv-64, Conv-64/2, Conv-64, Conv-64, Conv-128, Conv-128
  (3x3, zero padding, ReLU; "/2" = stride 2), global average of each map, FC-128, FC-128 (ReLU),
  FC-1.  415,217 parameters ("about 0.4 million").
* Loss: image-wise L2, Eq. 3 ``|| g(aggr(f(p_1..p_N))) - S ||^2`` with ``aggr`` the average of
  the feature maps over all positions of all an image's inputs and ``g`` the FC layers.
* Inputs (Sec. V): "Each input image was partitioned into 112x112 patches when training on the
  LIVE IQA database, while full-sized images were used on the other databases"; on LIVE the
  patches are non-overlapping and the feature maps of all an image's patches are averaged
  together (Eq. 3 aggregation).  ``input="auto"`` (the ``paper`` preset) decides from the
  training records' ``dataset`` column: ``"patches"`` (every non-overlapping 112x112 patch) when
  every record is from ``live``, else ``"full"``; ``input="full"`` / ``"patches"`` force one.
  Horizontal flips augment the training set (a random mirror each epoch, i.e. the flipped
  replica in expectation); 5 images per mini-batch; 80 epochs.
* Conventions / choices not in the paper (stated): He-normal init (:func:`deep.models._base.he_init`);
  RGB scaled to ``[0, 1]``; Adam, lr 1e-4; targets scaled to ``[0, 1]``; a content-disjoint
  validation split picks the best of the 80 epochs (validation loss, no early stop).  The
  ``cpu`` preset trains image-wise on a random subset of each image's 112x112 grid patches per
  epoch (Eq. 3 over those patches) until early stopping; see :attr:`KimCNN.PRESETS` and the README.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..batches import ImageBatches, PatchBatches
from ..losses import imagewise_l2
from ..positions import gather_patches, sample_positions
from ..segments import segment_mean
from ..trainer import adam
from ._base import TrainedIQA, he_init

__all__ = ["KimNet", "KimCNN"]

_LAYERS = ((48, 1), (48, 2), (64, 1), (64, 2), (64, 1), (64, 1), (128, 1), (128, 1))


class KimNet(nn.Module):
    """The image-wise CNN; ``features`` -> maps, ``regress`` -> score, ``forward`` handles both
    a stacked batch ``(B, 3, H, W)`` and a flat patch batch with ``image_index``."""

    def __init__(self, in_channels: int = 3, fc: int = 128):
        super().__init__()
        layers: list[nn.Module] = []
        c = in_channels
        for out, stride in _LAYERS:
            layers += [nn.Conv2d(c, out, 3, stride=stride, padding=1), nn.ReLU(inplace=True)]
            c = out
        self.features = nn.Sequential(*layers)
        self.head = nn.Sequential(nn.Linear(c, fc), nn.ReLU(inplace=True), nn.Linear(fc, fc), nn.ReLU(inplace=True))
        self.out = nn.Linear(fc, 1)
        self.dim = fc
        he_init(self)

    def pooled(self, x: torch.Tensor) -> torch.Tensor:
        """``(N, 3, H, W)`` -> ``(N, 128)`` globally averaged conv features."""
        return self.features(x).mean(dim=(2, 3))

    def embed(self, x: torch.Tensor | list, image_index: torch.Tensor | None = None,
              n_images: int | None = None) -> torch.Tensor:
        """Per-image 128-d representation after FC-128, FC-128 (the aggregation of Eq. 3)."""
        if isinstance(x, list):     # whole images of different sizes
            f = torch.cat([self.pooled(im.unsqueeze(0)) for im in x])
        else:
            f = self.pooled(x)
            if image_index is not None:   # average the maps of all patches of each image
                # every patch has the same size, so the mean of per-patch means is the mean of all maps
                f = segment_mean(f, image_index, int(n_images))
        return self.head(f)

    def forward(self, x: torch.Tensor | list, image_index: torch.Tensor | None = None,
                n_images: int | None = None) -> torch.Tensor:
        return self.out(self.embed(x, image_index, n_images)).squeeze(-1)


def kim_forward(model: KimNet, batch: dict) -> torch.Tensor:
    """Image-wise predictions for an image batch or a flat patch batch."""
    if "patches" in batch:
        return model(batch["patches"], batch["image_index"], len(batch["counts"]))
    return model(batch["image"])


class KimCNN(TrainedIQA):
    """Kim et al. 2017 image-wise CNN with the method contract."""

    name = "kim_cnn"
    kind = "NR"
    TRAINING_VERSION = "4"
    #: datasets on which the paper partitions images into 112x112 patches (Sec. V)
    PATCH_DATASETS = ("live",)
    PRESETS = {
        "paper": {"input": "auto", "patch_size": 112, "n_patches": None, "batch_size": 5, "lr": 1e-4,
                  "max_epochs": 80, "patience": None, "val_fraction": 0.2, "flip": True, "min_size": 16,
                  "stop_on": "loss", "predict_patches": None},
        "quick": {"input": "patches", "patch_size": 64, "n_patches": 2, "batch_size": 5, "lr": 1e-3,
                  "max_epochs": 3, "patience": None, "val_fraction": 0.2, "flip": True, "min_size": 64,
                  "stop_on": "loss", "predict_patches": 4},
        "cpu": {"input": "patches", "patch_size": 112, "n_patches": 4, "batch_size": 5, "lr": 3e-4,
                "max_epochs": 150, "patience": 15, "val_fraction": 0.2, "flip": True, "min_size": 112,
                "stop_on": "loss", "predict_patches": None},
    }

    def __init__(self, quick: bool = False, preset: str | None = None, input: str | None = None, patch_size: int | None = None,
                 max_epochs: int | None = None, patience: int | None = None, batch_size: int | None = None,
                 lr: float | None = None, n_patches: int | None = None, val_fraction: float | None = None,
                 seed: int = 0, device: str | None = None, work_dir: Any = None, progress: bool = False):
        self.quick = quick
        self.preset = preset
        self.input = input
        self.patch_size = patch_size
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

    def hyper_parameters(self) -> dict[str, Any]:
        hp = super().hyper_parameters()
        if hp["input"] not in ("auto", "full", "patches"):
            raise ValueError(f"input must be 'auto', 'full' or 'patches', got {hp['input']!r}")
        if hp["input"] == "patches":
            hp["min_size"] = hp["patch_size"]
        return hp

    def input_for(self, records: Any) -> str:
        """``"patches"`` or ``"full"``: ``input="auto"`` resolved for these training records
        (patches when every record's ``dataset`` is one of :attr:`PATCH_DATASETS`)."""
        mode = self.hyper_parameters()["input"]
        if mode != "auto":
            return mode
        ds = set(records["dataset"].astype(str)) if "dataset" in getattr(records, "columns", ()) else set()
        return "patches" if ds and ds <= set(self.PATCH_DATASETS) else "full"

    def _resolve(self, hp, records):
        hp = dict(hp)
        hp["input"] = self.input_for(records)
        if hp["input"] == "patches":
            hp["min_size"] = hp["patch_size"]
        return hp

    def _min_size(self, hp):
        return int(hp["min_size"])

    def _build_network(self, hp):
        return KimNet()

    def _datasets(self, hp, bank, train, val):
        seed, bs = int(self.seed), int(hp["batch_size"])
        if hp["input"] == "patches":
            kw = dict(patch_size=hp["patch_size"], n_patches=hp["n_patches"], sampling="grid", seed=seed,
                      batch_size=bs)
            tr = PatchBatches(bank, train["ids"], train["targets"], flip=hp["flip"], **kw)
            va = PatchBatches(bank, val["ids"], val["targets"], fixed=True, **kw) if val is not None else None
        else:
            tr = ImageBatches(bank, train["ids"], train["targets"], flip=hp["flip"], seed=seed, batch_size=bs)
            va = (ImageBatches(bank, val["ids"], val["targets"], fixed=True, seed=seed, batch_size=bs)
                  if val is not None else None)
        return tr, va

    def _forward(self, hp):
        return kim_forward

    def _loss_from(self, hp):
        return lambda q, batch: imagewise_l2(q, batch["target"])       # Eq. 3 (L2)

    def _scores_from(self, hp):
        return lambda q, batch: q.float()

    def _optimizer(self, hp):
        return adam(lr=float(hp["lr"]))

    def _predict_image(self, model, image, ref, hp, device, path) -> float:
        x = image.to(device).float().div_(255.0)
        with self._autocast(device):
            if hp["input"] == "patches":
                p = hp["patch_size"]
                pos = torch.from_numpy(sample_positions(image.shape[-2], image.shape[-1], p,
                                                        hp.get("predict_patches"), "grid", None))
                x = gather_patches(x, pos[:, 0], pos[:, 1], p)
                seg = torch.zeros(len(x), dtype=torch.long, device=device)
                q = model(x, seg, 1)
            else:
                q = model(x.unsqueeze(0))
        return float(q.float()[0])
