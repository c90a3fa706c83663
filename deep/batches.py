"""In-memory batch sources: training and validation batches cut from an :class:`~deep.imagebank.ImageBank`.

The trainer (:class:`deep.trainer.Trainer`) iterates ``source.iter_batches(epoch)`` instead of
building a ``DataLoader``: no decoding, no per-item Python objects, no worker processes.

* :class:`PatchBatches` - an item is one image as a set of patches (plus its reference patches
  at the same corners, FR).  The corners are those of :class:`deep.datasets.PatchDataset` with
  the same arguments (a pure function of ``(seed, epoch, item index)``, :func:`deep.positions.item_rng`;
  ``fixed=True``: drawn once, the fixed validation patches of Bosse et al., Sec. III-D; with
  ``keep_patches=True`` they are cut once and kept, so the bank may release those images), so the
  two give the same batches; here they are cut by tensor indexing
  (:func:`deep.positions.gather_patches`) from the stored images and converted to float32 once
  per batch by ``to_input`` (default: uint8 ``/255``).
* :class:`ImageBatches` - an item is one whole image (optionally a random crop), stacked when
  the images of a batch share a size, else a list.

Batches are the flat dicts of :mod:`deep.collate` (``patches``, ``ref``, ``image_index``, ``counts``,
``index``, ``target``, ``extra``, ``group``; or ``image``).  An epoch visits every item once in an
order that is a pure function of ``(seed, epoch)`` (``shuffle=False``: in order), or in the
batches of ``batch_sampler(source, epoch)`` (e.g. :class:`deep.samplers.GroupedBatchSampler`).
"""
from __future__ import annotations

from typing import Any, Callable, Iterator, Sequence

import numpy as np
import torch

from .imagebank import ImageBank
from .positions import gather_patches, item_rng, sample_positions

__all__ = ["PatchBatches", "ImageBatches", "scale_to_unit", "as_float32"]

ToInput = Callable[[torch.Tensor], torch.Tensor]
#: the item index whose generator orders an epoch's items (no item uses it)
_ORDER_INDEX = 2 ** 31 + 1


def scale_to_unit(x: torch.Tensor) -> torch.Tensor:
    """uint8 ``[0, 255]`` -> float32 ``[0, 1]`` (the RGB input of deepIQA, Kim and Yang here)."""
    return x.to(torch.float32).div_(255.0)


def as_float32(x: torch.Tensor) -> torch.Tensor:
    """Stored values as they are, in float32 (e.g. Kang's float16 normalised grey)."""
    return x.to(torch.float32)


class _BatchSource:
    """Items, targets, optional extras/groups, the epoch counter and the batch order."""

    def __init__(self, bank: ImageBank, image_ids: Sequence[int] | np.ndarray,
                 targets: Sequence[float] | np.ndarray | None, extras: np.ndarray | None,
                 groups: Sequence[Any] | None, batch_size: int, shuffle: bool, seed: int, fixed: bool,
                 flip: bool, to_input: ToInput | None, batch_sampler: Callable | None):
        self.bank = bank
        self.image_ids = np.asarray(image_ids, dtype=np.int64).reshape(-1)
        n = len(self.image_ids)
        self.targets = None if targets is None else np.asarray(targets, dtype=np.float32).reshape(n)
        self.extras = None if extras is None else np.asarray(extras, dtype=np.float32).reshape(n, -1)
        # integer codes of the content groups (batch key "group"), e.g. for same-content pairs
        self.groups = None if groups is None else np.unique(np.asarray([str(g) for g in groups]),
                                                            return_inverse=True)[1].reshape(n)
        if int(batch_size) < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = int(batch_size)
        self.shuffle = bool(shuffle)
        self.seed = int(seed)
        self.fixed = bool(fixed)
        self.flip = bool(flip)
        self.to_input = to_input or scale_to_unit
        self.batch_sampler = batch_sampler
        self.epoch = 0
        self.errors: dict[str, str] = {}      # the bank holds decodable images only: stays empty

    def __len__(self) -> int:
        return len(self.image_ids)

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def paths(self) -> list[str]:
        return [self.bank.paths[i] for i in self.image_ids]

    def batches_of(self, epoch: int) -> list[list[int]]:
        """The item indices of each batch of ``epoch``."""
        if self.batch_sampler is not None:
            return [list(map(int, b)) for b in self.batch_sampler(self, epoch)]
        n = len(self)
        order = (item_rng(self.seed, epoch, _ORDER_INDEX).permutation(n) if self.shuffle and not self.fixed
                 else np.arange(n))
        return [order[k:k + self.batch_size].tolist() for k in range(0, n, self.batch_size)]

    def _mirror(self, rng: np.random.Generator) -> bool:
        return self.flip and not self.fixed and rng.random() < 0.5

    def _base(self, idx: list[int]) -> dict[str, Any]:
        sel = np.asarray(idx, dtype=np.int64)
        out: dict[str, Any] = {"index": torch.from_numpy(sel)}
        if self.targets is not None:
            out["target"] = torch.from_numpy(self.targets[sel])
        if self.extras is not None:
            out["extra"] = torch.from_numpy(self.extras[sel])
        if self.groups is not None:
            out["group"] = torch.from_numpy(self.groups[sel].astype(np.int64))
        return out

    def iter_batches(self, epoch: int | None = None) -> Iterator[dict[str, Any]]:
        epoch = self.epoch if epoch is None else int(epoch)
        for idx in self.batches_of(epoch):
            yield self.batch(idx, epoch)

    def batch(self, idx: list[int], epoch: int) -> dict[str, Any]:
        raise NotImplementedError


class PatchBatches(_BatchSource):
    """Batches of ``batch_size`` images x their patches (see the module docstring).

    ``n_patches=None`` with ``sampling="grid"`` gives every non-overlapping patch; ``flip=True``
    mirrors all patches of an item (and its reference patches) with probability 1/2.
    """

    def __init__(self, bank: ImageBank, image_ids: Sequence[int] | np.ndarray,
                 targets: Sequence[float] | np.ndarray | None = None, *,
                 ref_ids: Sequence[int] | np.ndarray | None = None, extras: np.ndarray | None = None,
                 groups: Sequence[Any] | None = None, patch_size: int = 32, n_patches: int | None = 32,
                 sampling: str = "random", batch_size: int = 4, shuffle: bool = True, seed: int = 0,
                 fixed: bool = False, flip: bool = False, to_input: ToInput | None = None,
                 batch_sampler: Callable | None = None, keep_patches: bool = False):
        super().__init__(bank, image_ids, targets, extras, groups, batch_size, shuffle, seed, fixed, flip,
                         to_input, batch_sampler)
        if keep_patches and not fixed:
            raise ValueError("keep_patches needs fixed=True (patches drawn once)")
        self.ref_ids = None if ref_ids is None else np.asarray(ref_ids, dtype=np.int64).reshape(-1)
        if self.ref_ids is not None and len(self.ref_ids) != len(self.image_ids):
            raise ValueError(f"{len(self.ref_ids)} references for {len(self.image_ids)} images")
        self.patch_size = int(patch_size)
        self.n_patches = n_patches
        self.sampling = sampling
        for k in range(len(self.image_ids)):
            _, h, w = self._size(k)
            if h < self.patch_size or w < self.patch_size:
                raise ValueError(f"{self.bank.paths[self.image_ids[k]]}: image is {h}x{w}, smaller than the "
                                 f"{self.patch_size}x{self.patch_size} patch")
            if self.ref_ids is not None and self.bank.shape(self.ref_ids[k]) != self.bank.shape(self.image_ids[k]):
                raise ValueError(f"{self.bank.paths[self.image_ids[k]]}: the reference "
                                 f"{self.bank.paths[self.ref_ids[k]]} has another size")
        self._fixed_cache: dict[int, tuple[np.ndarray, bool]] = {}
        self.keep_patches = bool(keep_patches)
        # the cut (uint8 or float16) patches of every item, when kept: ``(patches, ref patches or None)``
        self._kept: list[tuple[torch.Tensor, torch.Tensor | None]] | None = None
        if self.keep_patches:
            self._kept = [self._cut_item(k, 0) for k in range(len(self.image_ids))]

    def bank_ids(self) -> set[int]:
        """Bank indices this source reads (its images and references)."""
        ids = set(self.image_ids.tolist())
        return ids | set(self.ref_ids.tolist()) if self.ref_ids is not None else ids

    @property
    def nbytes(self) -> int:
        """Bytes of the kept patches (0 unless ``keep_patches``)."""
        if not self._kept:
            return 0
        return int(sum(t.numel() * t.element_size() for pair in self._kept for t in pair if t is not None))

    def _size(self, k: int) -> tuple[int, int, int]:
        return self.bank.shape(int(self.image_ids[k]))

    def positions(self, k: int, epoch: int) -> tuple[np.ndarray, bool]:
        """Corners ``(N, 2)`` and the mirror flag of item ``k`` in ``epoch``."""
        if self.fixed and k in self._fixed_cache:
            return self._fixed_cache[k]
        _, h, w = self._size(k)
        rng = item_rng(self.seed, None if self.fixed else epoch, k)
        pos = sample_positions(h, w, self.patch_size, self.n_patches, self.sampling, rng)
        out = (pos, self._mirror(rng))
        if self.fixed:
            self._fixed_cache[k] = out
        return out

    def _cut(self, bank_id: int, pos: np.ndarray, mirror: bool) -> torch.Tensor:
        t = torch.from_numpy(pos)
        patches = gather_patches(self.bank[bank_id], t[:, 0], t[:, 1], self.patch_size)
        return patches.flip(-1) if mirror else patches

    def _cut_item(self, k: int, epoch: int) -> tuple[torch.Tensor, torch.Tensor | None]:
        if self._kept is not None:
            return self._kept[k]
        pos, mirror = self.positions(k, epoch)
        ref = self._cut(int(self.ref_ids[k]), pos, mirror) if self.ref_ids is not None else None
        return self._cut(int(self.image_ids[k]), pos, mirror), ref

    def batch(self, idx: list[int], epoch: int) -> dict[str, Any]:
        pats, refs, counts = [], [], []
        for k in idx:
            p, r = self._cut_item(k, epoch)
            pats.append(p)
            if r is not None:
                refs.append(r)
            counts.append(len(p))
        out = self._base(idx)
        out["patches"] = self.to_input(torch.cat(pats))
        if refs:
            out["ref"] = self.to_input(torch.cat(refs))
        out["counts"] = torch.tensor(counts, dtype=torch.long)
        out["image_index"] = torch.repeat_interleave(torch.arange(len(idx)), out["counts"])
        return out

    def n_units(self, epoch: int = 0) -> int:
        """Patches in one epoch (for patches/s)."""
        return int(sum(len(self.positions(k, epoch)[0]) for k in range(len(self))))


class ImageBatches(_BatchSource):
    """Batches of ``batch_size`` whole images (or random ``crop=(h, w)`` crops; centre crops when
    ``fixed``), each mirrored with probability 1/2 when ``flip`` (Kim et al. 2017, Sec. V)."""

    def __init__(self, bank: ImageBank, image_ids: Sequence[int] | np.ndarray,
                 targets: Sequence[float] | np.ndarray | None = None, *, extras: np.ndarray | None = None,
                 groups: Sequence[Any] | None = None, batch_size: int = 5, shuffle: bool = True, seed: int = 0,
                 fixed: bool = False, flip: bool = False, crop: tuple[int, int] | None = None,
                 to_input: ToInput | None = None, batch_sampler: Callable | None = None):
        super().__init__(bank, image_ids, targets, extras, groups, batch_size, shuffle, seed, fixed, flip,
                         to_input, batch_sampler)
        self.crop = None if crop is None else (int(crop[0]), int(crop[1]))

    def image(self, k: int, epoch: int) -> torch.Tensor:
        img = self.bank[int(self.image_ids[k])]
        rng = item_rng(self.seed, None if self.fixed else epoch, k)
        if self.crop is not None:
            ch, cw = self.crop
            h, w = img.shape[-2:]
            if h < ch or w < cw:
                raise ValueError(f"{self.bank.paths[self.image_ids[k]]}: image is {h}x{w}, smaller than the "
                                 f"{ch}x{cw} crop")
            if self.fixed:
                r, c = (h - ch) // 2, (w - cw) // 2
            else:
                r, c = int(rng.integers(0, h - ch + 1)), int(rng.integers(0, w - cw + 1))
            img = img[:, r:r + ch, c:c + cw]
        return img.flip(-1) if self._mirror(rng) else img

    def batch(self, idx: list[int], epoch: int) -> dict[str, Any]:
        imgs = [self.image(k, epoch) for k in idx]
        out = self._base(idx)
        if all(im.shape == imgs[0].shape for im in imgs):
            out["image"] = self.to_input(torch.stack(imgs))
        else:
            out["image"] = [self.to_input(im) for im in imgs]
        return out

    def n_units(self, epoch: int = 0) -> int:
        return len(self)
