"""Patch sampling, lazy image decoding and the torch datasets used by the trainer.

Conventions
-----------
* Images are decoded lazily, one item at a time, with :func:`features.imageio.load_image`
  (``H x W x 3`` uint8 RGB), then turned into a ``C x H x W`` float32 array by a
  *transform* (default :func:`to_float_chw`: RGB scaled to ``[0, 1]``).  An optional small
  LRU cache (:class:`ImageStore`, ``cache_size`` images) keeps recently used transformed
  images; a run never holds all decoded images.
* Patch positions are top-left corners ``(row, col)``.  ``"random"`` sampling draws
  corners uniformly (patches may overlap, Bosse et al. 2018, Sec. III-D); ``"grid"``
  uses the non-overlapping grid of stride ``patch_size`` anchored at the top-left
  corner (Kang et al. 2014; the rest of the image beyond the last full patch is not used),
  optionally a random subset of it.
* Patch-wise targets inherit the image score (Kang et al. 2014; Bosse et al. 2018, Eq. 2).
* Randomness is a pure function of ``(seed, epoch, item index)``, so a resumed run sees
  the same patches as an uninterrupted one; ``fixed=True`` ignores the epoch (the fixed
  validation patches of Bosse et al., Sec. III-D).
* A patch batch is *flat*: ``patches`` is ``(sum N_i, C, p, p)`` and ``image_index``
  (``sum N_i``,) says which image of the batch each patch comes from, so images with
  different patch counts can share a batch; :func:`segment_mean` aggregates per image.
* A bad image (``ImageError``: unreadable, smaller than the patch, ...) does not stop training:
  its item becomes ``{"error": (path, reason)}``, the collate functions move it to the batch's
  ``errors`` list and the trainer records it in ``dataset.errors`` (``skip_errors=False`` raises).
"""
from __future__ import annotations

import os
from collections import OrderedDict
from typing import Any, Callable, Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from features.imageio import ImageError, load_image

__all__ = [
    "to_float_chw",
    "random_positions",
    "grid_positions",
    "sample_positions",
    "extract_patches",
    "ImageStore",
    "PatchDataset",
    "ImageDataset",
    "collate_patches",
    "GroupedBatchSampler",
    "collate_images",
    "segment_mean",
    "segment_sum",
    "item_rng",
    "probe_images",
    "targets_from_records",
]

Transform = Callable[[np.ndarray], np.ndarray]


def to_float_chw(rgb: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 RGB -> ``3 x H x W`` float32 in ``[0, 1]`` (deepIQA input, not normalised)."""
    return np.ascontiguousarray(np.transpose(rgb, (2, 0, 1)), dtype=np.float32) / np.float32(255.0)


def item_rng(seed: int, epoch: int | None, index: int) -> np.random.Generator:
    """The generator for one item: a pure function of ``(seed, epoch, index)``."""
    key = [int(seed) & 0xFFFFFFFF, int(index)] if epoch is None else [int(seed) & 0xFFFFFFFF, int(index), int(epoch) + 1]
    return np.random.default_rng(key)


def random_positions(h: int, w: int, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` top-left corners drawn uniformly so that the ``size`` patch lies inside ``h x w``."""
    if h < size or w < size:
        raise ValueError(f"image {h}x{w} is smaller than a {size}x{size} patch")
    rows = rng.integers(0, h - size + 1, size=n)
    cols = rng.integers(0, w - size + 1, size=n)
    return np.stack([rows, cols], axis=1).astype(np.int64)


def grid_positions(h: int, w: int, size: int, stride: int | None = None) -> np.ndarray:
    """Corners of the patch grid (stride ``size`` = non-overlapping), row-major."""
    stride = size if stride is None else int(stride)
    if h < size or w < size:
        raise ValueError(f"image {h}x{w} is smaller than a {size}x{size} patch")
    rows = np.arange(0, h - size + 1, stride)
    cols = np.arange(0, w - size + 1, stride)
    rr, cc = np.meshgrid(rows, cols, indexing="ij")
    return np.stack([rr.ravel(), cc.ravel()], axis=1).astype(np.int64)


def sample_positions(h: int, w: int, size: int, n: int | None, sampling: str,
                     rng: np.random.Generator | None) -> np.ndarray:
    """``sampling="random"``: ``n`` uniform corners; ``"grid"``: the non-overlapping grid, or a
    random subset of ``n`` of its patches (without replacement) when ``n`` is smaller."""
    if sampling == "random":
        if n is None:
            raise ValueError("random sampling needs a number of patches")
        return random_positions(h, w, size, n, rng if rng is not None else np.random.default_rng(0))
    if sampling == "grid":
        pos = grid_positions(h, w, size)
        if n is not None and n < len(pos):
            if rng is None:  # deterministic: evenly spread subset
                pick = np.linspace(0, len(pos) - 1, n).round().astype(int)
            else:
                pick = np.sort(rng.choice(len(pos), size=n, replace=False))
            pos = pos[pick]
        return pos
    raise ValueError(f"sampling must be 'random' or 'grid', got {sampling!r}")


def extract_patches(image: np.ndarray, positions: np.ndarray, size: int) -> np.ndarray:
    """Crop ``C x H x W`` ``image`` at ``positions`` -> ``(N, C, size, size)`` (a copy)."""
    out = np.empty((len(positions), image.shape[0], size, size), dtype=image.dtype)
    for k, (r, c) in enumerate(positions):
        out[k] = image[:, r:r + size, c:c + size]
    return out


class ImageStore:
    """Lazy decoder + transform with a small LRU cache of transformed images.

    ``store[path]`` returns ``transform(load_image(path))``; at most ``cache_size``
    results are kept (0 = no cache).  Errors are :class:`~features.imageio.ImageError`
    naming the file.
    """

    def __init__(self, transform: Transform | None = None, cache_size: int = 0):
        self.transform = transform or to_float_chw
        self.cache_size = int(cache_size)
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def __getitem__(self, path: str | os.PathLike) -> np.ndarray:
        key = os.fspath(path)
        if key in self._cache:
            self._cache.move_to_end(key)
            return self._cache[key]
        rgb = load_image(key)
        try:
            arr = self.transform(rgb)
        except ImageError as exc:
            if exc.source == "<array>":
                raise ImageError(key, exc.reason) from None
            raise
        if self.cache_size > 0:
            self._cache[key] = arr
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return arr

    def clear(self) -> None:
        self._cache.clear()

    def __getstate__(self) -> dict:  # worker processes start with an empty cache
        state = dict(self.__dict__)
        state["_cache"] = OrderedDict()
        return state


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


def collate_patches(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Flatten patch items: ``patches`` ``(sum N_i, C, p, p)``, ``image_index`` ``(sum N_i,)``,
    ``counts`` ``(B,)``, ``target`` ``(B,)``, ``ref``/``extra`` when present, ``index`` ``(B,)``.
    Failed items go to ``errors`` (``[(path, reason)]``); a batch of failures only is ``{"errors": ...}``."""
    errors = [it["error"] for it in items if "error" in it]
    items = [it for it in items if "error" not in it]
    if not items:
        return {"errors": errors}
    out: dict[str, Any] = {
        "patches": torch.cat([it["patches"] for it in items]),
        "counts": torch.tensor([len(it["patches"]) for it in items], dtype=torch.long),
        "index": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }
    out["image_index"] = torch.repeat_interleave(torch.arange(len(items)), out["counts"])
    if "ref" in items[0]:
        out["ref"] = torch.cat([it["ref"] for it in items])
    if "target" in items[0]:
        out["target"] = torch.stack([it["target"] for it in items])
    if "extra" in items[0]:
        out["extra"] = torch.stack([it["extra"] for it in items])
    if "group" in items[0]:
        out["group"] = torch.stack([it["group"] for it in items])
    if errors:
        out["errors"] = errors
    return out


def collate_images(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack whole images when they share a size (``image`` ``(B, C, H, W)``), else keep a list.
    Failed items go to ``errors``; a batch of failures only is ``{"errors": ...}``."""
    errors = [it["error"] for it in items if "error" in it]
    items = [it for it in items if "error" not in it]
    if not items:
        return {"errors": errors}
    imgs = [it["image"] for it in items]
    same = all(im.shape == imgs[0].shape for im in imgs)
    out: dict[str, Any] = {
        "image": torch.stack(imgs) if same else imgs,
        "index": torch.tensor([it["index"] for it in items], dtype=torch.long),
    }
    if "target" in items[0]:
        out["target"] = torch.stack([it["target"] for it in items])
    if "extra" in items[0]:
        out["extra"] = torch.stack([it["extra"] for it in items])
    if "group" in items[0]:
        out["group"] = torch.stack([it["group"] for it in items])
    if errors:
        out["errors"] = errors
    return out


class GroupedBatchSampler:
    """Training batches made of whole content groups: ``groups_per_batch`` contents, each with
    up to ``per_group`` of its images (so a batch holds same-content pairs, Yang et al. 2019).

    Called by the trainer as ``sampler(dataset, epoch)``; the order is a pure function of
    ``(seed, epoch)``.  Groups larger than ``per_group`` are split into several chunks.
    """

    def __init__(self, groups: Sequence[Any], groups_per_batch: int = 2, per_group: int = 4, seed: int = 0):
        self.groups = np.array([str(g) for g in groups], dtype=object)
        self.groups_per_batch = int(groups_per_batch)
        self.per_group = int(per_group)
        self.seed = int(seed)

    def __call__(self, dataset: Any, epoch: int) -> list[list[int]]:
        rng = item_rng(self.seed, epoch, 2 ** 31)   # an index no item uses
        chunks: list[list[int]] = []
        for g in np.unique(self.groups):
            idx = np.flatnonzero(self.groups == g)
            idx = idx[rng.permutation(len(idx))]
            chunks += [idx[k:k + self.per_group].tolist() for k in range(0, len(idx), self.per_group)]
        order = rng.permutation(len(chunks))
        batches = []
        for k in range(0, len(order), self.groups_per_batch):
            batches.append([i for c in order[k:k + self.groups_per_batch] for i in chunks[c]])
        return batches

    def __repr__(self) -> str:
        return f"GroupedBatchSampler(groups_per_batch={self.groups_per_batch}, per_group={self.per_group})"


def segment_sum(values: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Per-image sums of patch values: ``out[b] = sum_{i: segment[i] = b} values[i]``."""
    out = torch.zeros((n,) + tuple(values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add(0, segment.to(values.device), values)


def segment_mean(values: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Per-image mean of patch values (Bosse et al. 2018, Eq. 1 for each image of a batch)."""
    counts = torch.bincount(segment.to(values.device), minlength=n).clamp_min(1).to(values.dtype)
    s = segment_sum(values, segment, n)
    return s / counts.view((n,) + (1,) * (values.dim() - 1))


def probe_images(paths: Sequence[str], min_h: int = 1, min_w: int | None = None,
                 refs: Sequence[str] | None = None) -> dict[str, str]:
    """Cheap pre-flight check from the file headers: ``{path: reason}`` for files that are
    missing, unreadable, or smaller than ``min_h x min_w`` (or whose reference differs in size).

    The size test uses ``min(h, w)`` so EXIF rotation does not matter for square minimums.
    """
    from PIL import Image

    min_w = min_h if min_w is None else min_w
    bad: dict[str, str] = {}

    def size_of(p: str) -> tuple[int, int]:
        with Image.open(p) as im:
            w, h = im.size
            try:
                orient = im.getexif().get(0x0112, 1)
            except Exception:
                orient = 1
        return (w, h) if orient in (5, 6, 7, 8) else (h, w)

    for i, path in enumerate(paths):
        p = os.fspath(path)
        try:
            if not os.path.isfile(p):
                raise ImageError(p, "file not found")
            h, w = size_of(p)
            if h < min_h or w < min_w:
                raise ImageError(p, f"image is {h}x{w}, smaller than the {min_h}x{min_w} patch")
            if refs is not None and refs[i]:
                r = os.fspath(refs[i])
                if not os.path.isfile(r):
                    raise ImageError(p, f"reference {r} not found")
                if size_of(r) != (h, w):
                    rh, rw = size_of(r)
                    raise ImageError(p, f"reference is {rh}x{rw} but distorted image is {h}x{w}")
        except ImageError as exc:
            bad[p] = exc.reason
        except Exception as exc:  # unreadable header
            bad[p] = f"not a readable image ({type(exc).__name__}: {exc})"
    return bad


def targets_from_records(records: Any) -> np.ndarray:
    """Training targets oriented higher-is-better (DMOS negated), float64.

    Same rule as ``benchmark.methods.base.training_target`` (``deep/`` may not import
    ``benchmark``); records without ``higher_better`` are taken as MOS-like.
    """
    score = records["score"].to_numpy(dtype=np.float64)
    if "higher_better" not in records.columns:
        return score
    sign = np.where(records["higher_better"].to_numpy(dtype=bool), 1.0, -1.0)
    return score * sign
