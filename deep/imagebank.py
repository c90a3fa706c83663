"""The in-memory training store: every training image decoded once and kept as a uint8 tensor.

Decoding and converting an image costs more than a forward+backward pass of the small IQA
CNNs on its patches, so the trainer must not do it every epoch.  :meth:`ImageBank.load`
decodes each distinct path once (:func:`features.imageio.load_image`), turns it into the
``C x H x W`` array the model needs with an ``encode`` function (default :func:`rgb_chw`, uint8
RGB; Kang et al.: the locally normalised grey image as float16,
:func:`deep.models.kang.kang_encode`) and keeps it; batches are then cut from the bank by
tensor indexing (:mod:`deep.batches`) and turned into float32 inputs batch by batch.

On a GPU the bank is moved to the device once (:meth:`ImageBank.to`, or ``load(..., device=)``):
patches and crops are then cut from device memory and only a few bytes of corners per item
cross from the host per batch.

Memory is what the encoded images take (``nbytes``): 2000 RGB images of 512 x 512 are
1.57 GB as uint8, 1.05 GB as one float16 grey channel.  Paths that fail to decode or encode are returned with the reason
(an :class:`~features.imageio.ImageError` names the file); they are not in the bank.
"""
from __future__ import annotations

import os
from typing import Callable, Sequence

import numpy as np
import torch

from features.imageio import ImageError, load_image

__all__ = ["ImageBank", "Encode", "rgb_chw"]

Encode = Callable[[np.ndarray], np.ndarray]


def rgb_chw(rgb: np.ndarray) -> np.ndarray:
    """``H x W x 3`` uint8 RGB -> ``3 x H x W`` uint8 (contiguous)."""
    return np.ascontiguousarray(np.transpose(rgb, (2, 0, 1)))


class ImageBank:
    """Encoded images by path: ``bank[i]`` is the ``C x H x W`` (uint8 or float16) tensor of ``bank.paths[i]``."""

    def __init__(self, paths: Sequence[str], images: Sequence[torch.Tensor]):
        if len(paths) != len(images):
            raise ValueError(f"{len(paths)} paths for {len(images)} images")
        self.paths = [os.fspath(p) for p in paths]
        self.images: list[torch.Tensor | None] = list(images)
        self._ids = {p: i for i, p in enumerate(self.paths)}

    @classmethod
    def load(cls, paths: Sequence[str], encode: Encode | None = None, progress: bool = False,
             desc: str = "decode", device: str | torch.device | None = None) -> tuple["ImageBank", dict[str, str]]:
        """Decode and encode every distinct path once -> ``(bank, {path: reason})``; ``device``
        (default: the host) is where the bank then holds the images (:meth:`to`)."""
        encode = encode or rgb_chw
        unique = list(dict.fromkeys(os.fspath(p) for p in paths))
        items = unique
        if progress:
            from tqdm.auto import tqdm

            items = tqdm(unique, desc=desc, unit="img", leave=False)
        kept, images, failures = [], [], {}
        for p in items:
            try:
                arr = encode(load_image(p))
            except ImageError as exc:
                failures[p] = exc.reason
                continue
            if arr.dtype not in (np.uint8, np.float16) or arr.ndim != 3:
                raise TypeError(f"encode must return a C x H x W uint8 or float16 array, got {arr.dtype} {arr.shape}")
            kept.append(p)
            images.append(torch.from_numpy(np.ascontiguousarray(arr)))
        bank = cls(kept, images)
        return (bank.to(device) if device is not None else bank), failures

    def to(self, device: str | torch.device) -> "ImageBank":
        """Move every held image to ``device`` (in place, one copy per image; returns ``self``)."""
        device = torch.device(device)
        self.images = [None if t is None else t.to(device) for t in self.images]
        return self

    @property
    def device(self) -> torch.device:
        """Where the images are held (the host for an empty bank)."""
        held = next((t for t in self.images if t is not None), None)
        return torch.device("cpu") if held is None else held.device

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = self.images[i]
        if img is None:
            raise KeyError(f"{self.paths[i]} was released from the bank")
        return img

    def release(self, ids: Sequence[int] | np.ndarray) -> None:
        """Drop the decoded images of ``ids`` (e.g. validation images whose fixed patches are kept
        elsewhere); their paths stay known, ``bank[i]`` raises ``KeyError``."""
        for i in ids:
            self.images[int(i)] = None

    def __contains__(self, path: object) -> bool:
        return isinstance(path, (str, os.PathLike)) and os.fspath(path) in self._ids

    def ids(self, paths: Sequence[str]) -> np.ndarray:
        """Bank indices of ``paths`` (``KeyError`` naming a path that is not held)."""
        try:
            return np.array([self._ids[os.fspath(p)] for p in paths], dtype=np.int64)
        except KeyError as exc:
            raise KeyError(f"image not in the bank: {exc.args[0]}") from None

    def shape(self, i: int) -> tuple[int, int, int]:
        c, h, w = self[i].shape
        return int(c), int(h), int(w)

    @property
    def nbytes(self) -> int:
        """Bytes of the images held (released ones excluded)."""
        return int(sum(t.numel() * t.element_size() for t in self.images if t is not None))

    def __repr__(self) -> str:
        return f"ImageBank({len(self)} images, {self.nbytes / 2 ** 20:.1f} MiB)"
