"""Training targets from a records frame (``deep/`` may not import ``benchmark``)."""
from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["targets_from_records"]


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
