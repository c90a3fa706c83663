"""Patch positions and crops: where the patches of an image are taken and how they are cut.

* Positions are top-left corners ``(row, col)``.  ``"random"`` draws corners uniformly (patches
  may overlap, Bosse et al. 2018, Sec. III-D); ``"grid"`` is the non-overlapping grid of stride
  ``patch_size`` anchored at the top-left corner (Kang et al. 2014; the rest of the image beyond
  the last full patch is not used), optionally a random subset of it.
* Randomness is a pure function of ``(seed, epoch, item index)`` (:func:`item_rng`), so a
  resumed run sees the same patches as an uninterrupted one.
* :func:`extract_patches` cuts one NumPy ``C x H x W`` image; :func:`gather_patches` cuts a
  torch image at many corners in one indexing operation (the in-memory training path).
"""
from __future__ import annotations

import numpy as np
import torch

__all__ = ["item_rng", "random_positions", "grid_positions", "sample_positions", "extract_patches",
           "gather_patches", "grid_size"]


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


def grid_size(h: int, w: int, size: int) -> int:
    """Number of non-overlapping ``size`` patches of the grid of an ``h x w`` image."""
    return (h // size) * (w // size) if h >= size and w >= size else 0


def gather_patches(image: torch.Tensor, rows: torch.Tensor, cols: torch.Tensor, size: int) -> torch.Tensor:
    """Cut ``C x H x W`` ``image`` at corners ``(rows[k], cols[k])`` -> ``(N, C, size, size)`` (a copy,
    same dtype; the corners must lie inside the image).  One indexing operation on the view of
    every ``size x size`` window (``Tensor.unfold``), no Python loop over patches."""
    windows = image.unfold(1, size, 1).unfold(2, size, 1).permute(1, 2, 0, 3, 4)   # (H-s+1, W-s+1, C, s, s) view
    return windows[rows.to(image.device).long(), cols.to(image.device).long()]       # (N, C, s, s) copy
