"""Compatibility facade: the patch, image and batch helpers of ``deep/`` under one import.

The code lives in modules named after what they hold:

* :mod:`deep.positions` - patch corners (random, grid), :func:`extract_patches`, :func:`gather_patches`;
* :mod:`deep.imagestore` - :func:`to_float_chw`, the lazy :class:`ImageStore`, :func:`probe_images`;
* :mod:`deep.imagebank` - :class:`ImageBank`, every training image decoded once into memory;
* :mod:`deep.batches` - in-memory batch sources :class:`PatchBatches`, :class:`ImageBatches`;
* :mod:`deep.datasets` - disk-backed torch datasets :class:`PatchDataset`, :class:`ImageDataset`;
* :mod:`deep.collate` - :func:`collate_patches`, :func:`collate_images`;
* :mod:`deep.samplers` - :class:`GroupedBatchSampler` (same-content batches);
* :mod:`deep.segments` - :func:`segment_sum`, :func:`segment_mean` (per-image reductions);
* :mod:`deep.records` - :func:`targets_from_records`.
"""
from __future__ import annotations

from .batches import ImageBatches, PatchBatches
from .collate import collate_images, collate_patches
from .datasets import ImageDataset, PatchDataset
from .imagebank import ImageBank
from .imagestore import ImageStore, Transform, probe_images, to_float_chw
from .positions import (extract_patches, gather_patches, grid_positions, grid_size, item_rng, random_positions,
                        sample_positions)
from .records import targets_from_records
from .samplers import GroupedBatchSampler
from .segments import segment_mean, segment_sum

__all__ = [
    "Transform",
    "to_float_chw",
    "random_positions",
    "grid_positions",
    "grid_size",
    "sample_positions",
    "extract_patches",
    "gather_patches",
    "ImageStore",
    "ImageBank",
    "PatchDataset",
    "ImageDataset",
    "PatchBatches",
    "ImageBatches",
    "collate_patches",
    "GroupedBatchSampler",
    "collate_images",
    "segment_mean",
    "segment_sum",
    "item_rng",
    "probe_images",
    "targets_from_records",
]
