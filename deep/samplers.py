"""Training batch samplers with a structure (``sampler(dataset, epoch) -> list of index lists``)."""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from .positions import item_rng

__all__ = ["GroupedBatchSampler"]


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
