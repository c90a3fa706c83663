"""Disk-backed torch datasets: one item = one image's patches, or one whole image.

Images are decoded lazily, one item at a time (:class:`deep.imagestore.ImageStore`), so these
datasets suit sets too large for memory and DataLoader worker processes; the IQA CNNs of
``deep/models`` train from :mod:`deep.batches` instead (every image decoded once, batches cut
by tensor indexing).

* Patch-wise targets inherit the image score (Kang et al. 2014; Bosse et al. 2018, Eq. 2).
* Randomness is a pure function of ``(seed, epoch, item index)``; ``fixed=True`` ignores the
  epoch (the fixed validation patches of Bosse et al., Sec. III-D).
* A bad image (``ImageError``: unreadable, smaller than the patch, ...) does not stop training:
  its item becomes ``{"error": (path, reason)}``, the collate functions
  (:mod:`deep.collate`) move it to the batch's ``errors`` list and the trainer records it in
  ``dataset.errors`` (``skip_errors=False`` raises).
"""
from __future__ import annotations

import os
from typing import Any, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from features.imageio import ImageError

from .imagestore import ImageStore, Transform
from .positions import extract_patches, item_rng, sample_positions

__all__ = ["PatchDataset", "ImageDataset"]


class _EpochDataset(Dataset):
    """Common part: paths, optional refs/targets, an epoch counter for resampling."""

    def __init__(self, images: Sequence[str], targets: Sequence[float] | np.ndarray | None = None,
                 refs: Sequence[str] | None = None, extras: np.ndarray | None = None, *,
                 transform: Transform | None = None, seed: int = 0, fixed: bool = False, cache_size: int = 0,
                 groups: Sequence[Any] | None = None, skip_errors: bool = True):
        self.images = [os.fspath(p) for p in images]
        # skip_errors: an image that raises ImageError becomes an item {"error": (path, reason)}
        # (recorded in ``errors``; the collate functions move it to the batch's "errors" list,
        # which the trainer hands back to ``errors`` - also from DataLoader worker processes)
        # instead of stopping a long run.
        self.skip_errors = bool(skip_errors)
        self.errors: dict[str, str] = {}
        n = len(self.images)
        # integer codes of the content groups (batch key "group"), e.g. for same-content pairs
        self.groups = None if groups is None else np.unique(np.asarray([str(g) for g in groups]),
                                                            return_inverse=True)[1].reshape(n)
        self.targets = None if targets is None else np.asarray(targets, dtype=np.float32).reshape(n)
        self.refs = None if refs is None else [os.fspath(p) for p in refs]
        if self.refs is not None and len(self.refs) != n:
            raise ValueError(f"{len(self.refs)} references for {n} images")
        self.extras = None if extras is None else np.asarray(extras, dtype=np.float32).reshape(n, -1)
        self.store = ImageStore(transform, cache_size)
        self.seed = int(seed)
        self.fixed = bool(fixed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Called by the trainer before each epoch (new random patches unless ``fixed``)."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, index: int) -> dict[str, Any]:
        try:
            return self._item(index)
        except ImageError as exc:
            if not self.skip_errors:
                raise
            path = self.images[index]
            reason = exc.reason if exc.source == path else str(exc)
            self.errors[path] = reason
            return {"error": (path, reason)}

    def _item(self, index: int) -> dict[str, Any]:
        raise NotImplementedError

    def _rng(self, index: int) -> np.random.Generator:
        return item_rng(self.seed, None if self.fixed else self.epoch, index)

    def _base_item(self, index: int) -> dict[str, Any]:
        item: dict[str, Any] = {"index": index}
        if self.targets is not None:
            item["target"] = torch.tensor(self.targets[index])
        if self.extras is not None:
            item["extra"] = torch.from_numpy(self.extras[index])
        if self.groups is not None:
            item["group"] = torch.tensor(int(self.groups[index]))
        return item


class PatchDataset(_EpochDataset):
    """One item = one image as a set of patches (plus the same-position reference patches).

    ``n_patches=None`` with ``sampling="grid"`` gives every non-overlapping patch.  ``flip=True``
    mirrors all patches of an item (and its reference patches) with probability 1/2.
    Items: ``{"patches": (N, C, p, p), "ref": (N, C, p, p) (FR only), "target": (),
    "extra": (k,) (optional), "group": () (optional content code), "index": int}``; batch them with :func:`collate_patches`.
    """

    def __init__(self, images: Sequence[str], targets: Sequence[float] | np.ndarray | None = None,
                 refs: Sequence[str] | None = None, extras: np.ndarray | None = None, *,
                 patch_size: int = 32, n_patches: int | None = 32, sampling: str = "random",
                 transform: Transform | None = None, seed: int = 0, fixed: bool = False, cache_size: int = 0,
                 flip: bool = False, groups: Sequence[Any] | None = None, skip_errors: bool = True):
        super().__init__(images, targets, refs, extras, transform=transform, seed=seed, fixed=fixed,
                         cache_size=cache_size, groups=groups, skip_errors=skip_errors)
        self.patch_size = int(patch_size)
        self.n_patches = n_patches
        self.sampling = sampling
        self.flip = bool(flip)

    def _item(self, index: int) -> dict[str, Any]:
        path = self.images[index]
        img = self.store[path]
        h, w = img.shape[-2:]
        p = self.patch_size
        if h < p or w < p:
            raise ImageError(path, f"image is {h}x{w}, smaller than the {p}x{p} patch")
        rng = self._rng(index)
        pos = sample_positions(h, w, p, self.n_patches, self.sampling, rng)
        mirror = self.flip and not self.fixed and rng.random() < 0.5
        item = self._base_item(index)
        item["patches"] = torch.from_numpy(_maybe_flip(extract_patches(img, pos, p), mirror))
        if self.refs is not None:
            ref = self.store[self.refs[index]]
            if ref.shape != img.shape:
                raise ImageError(path, f"reference {self.refs[index]} is {ref.shape[-2]}x{ref.shape[-1]} "
                                       f"but the distorted image is {h}x{w}")
            item["ref"] = torch.from_numpy(_maybe_flip(extract_patches(ref, pos, p), mirror))
        return item


def _maybe_flip(patches: np.ndarray, mirror: bool) -> np.ndarray:
    return np.ascontiguousarray(patches[..., ::-1]) if mirror else patches


class ImageDataset(_EpochDataset):
    """One item = one whole image (optionally a random ``crop`` and a random horizontal flip).

    ``crop=(h, w)`` takes a random crop each epoch (centre crop when ``fixed``); ``flip=True``
    mirrors with probability 1/2 (Kim et al. 2017, Sec. V: horizontally flipped replicas).
    Items: ``{"image": (C, H, W), "target": (), "extra": (k,), "index": int}``.
    """

    def __init__(self, images: Sequence[str], targets: Sequence[float] | np.ndarray | None = None,
                 extras: np.ndarray | None = None, *, transform: Transform | None = None,
                 crop: tuple[int, int] | None = None, flip: bool = False, seed: int = 0,
                 fixed: bool = False, cache_size: int = 0, groups: Sequence[Any] | None = None,
                 skip_errors: bool = True):
        super().__init__(images, targets, None, extras, transform=transform, seed=seed, fixed=fixed,
                         cache_size=cache_size, groups=groups, skip_errors=skip_errors)
        self.crop = crop
        self.flip = bool(flip)

    def _item(self, index: int) -> dict[str, Any]:
        path = self.images[index]
        img = self.store[path]
        rng = self._rng(index)
        if self.crop is not None:
            ch, cw = self.crop
            h, w = img.shape[-2:]
            if h < ch or w < cw:
                raise ImageError(path, f"image is {h}x{w}, smaller than the {ch}x{cw} crop")
            if self.fixed:
                r, c = (h - ch) // 2, (w - cw) // 2
            else:
                r, c = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            img = img[:, r:r + ch, c:c + cw]
        if self.flip and not self.fixed and rng.random() < 0.5:
            img = img[:, :, ::-1]
        item = self._base_item(index)
        item["image"] = torch.from_numpy(np.ascontiguousarray(img))
        return item
