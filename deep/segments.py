"""Per-image reductions of flat patch batches (``values[i]`` belongs to image ``segment[i]``)."""
from __future__ import annotations

import torch

__all__ = ["segment_sum", "segment_mean"]


def segment_sum(values: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Per-image sums of patch values: ``out[b] = sum_{i: segment[i] = b} values[i]``."""
    out = torch.zeros((n,) + tuple(values.shape[1:]), dtype=values.dtype, device=values.device)
    return out.index_add(0, segment.to(values.device), values)


def segment_mean(values: torch.Tensor, segment: torch.Tensor, n: int) -> torch.Tensor:
    """Per-image mean of patch values (Bosse et al. 2018, Eq. 1 for each image of a batch)."""
    counts = torch.bincount(segment.to(values.device), minlength=n).clamp_min(1).to(values.dtype)
    s = segment_sum(values, segment, n)
    return s / counts.view((n,) + (1,) * (values.dim() - 1))
