"""MATLAB ``prctile`` (Statistics Toolbox)."""
from __future__ import annotations

import numpy as np

__all__ = ["prctile"]


def prctile(x: np.ndarray, p: float | list[float], axis: int | None = None) -> np.ndarray:
    """MATLAB ``prctile(x, p)``: the sorted samples sit at percents ``100 (i - 0.5) / n``,
    linear interpolation between them, the extremes below/above (numpy ``method="hazen"``)."""
    return np.percentile(np.asarray(x, dtype=np.float64), p, axis=axis, method="hazen")
