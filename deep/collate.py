"""Collate functions of the disk-backed datasets (:mod:`deep.datasets`).

A patch batch is *flat*: ``patches`` is ``(sum N_i, C, p, p)`` and ``image_index``
(``sum N_i``,) says which image of the batch each patch comes from, so images with different
patch counts can share a batch; :func:`deep.segments.segment_mean` aggregates per image.
"""
from __future__ import annotations

from typing import Any

import torch

__all__ = ["collate_patches", "collate_images"]


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
    return _finish(out, items, errors)


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
    return _finish(out, items, errors)


def _finish(out: dict[str, Any], items: list[dict[str, Any]], errors: list) -> dict[str, Any]:
    """Stack the per-item ``target``, ``extra`` and ``group`` tensors present; add ``errors``."""
    for key in ("target", "extra", "group"):
        if key in items[0]:
            out[key] = torch.stack([it[key] for it in items])
    if errors:
        out["errors"] = errors
    return out
