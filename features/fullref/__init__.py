"""Full-reference IQA metrics, faithful to the authors' MATLAB releases.

Every function takes ``(ref, dist)`` numpy arrays (``H x W x 3`` RGB uint8; grey
``H x W`` accepted; other dtypes normalised as in :mod:`features.imageio`) and returns
a Python float.  Bad input raises :class:`features.imageio.ImageError`.

=========  ===========================  ====================================  =========
function   reference release            grey conversion                       direction
=========  ===========================  ====================================  =========
psnr       scikit-image PSNR            none (all RGB channels)               higher
ssim       Wang ``ssim_index.m``        MATLAB ``rgb2gray`` (uint8)           higher
ms_ssim    Wang ``msssim.m``            MATLAB ``rgb2gray`` (uint8)           higher
fsim       Zhang ``FeatureSIM.m``       YIQ (FSIMc) / Y (FSIM)                higher
gmsd       Xue ``GMSD.m``               MATLAB ``rgb2gray`` (uint8)           lower
vif        Sheikh ``vifvec.m``          MATLAB ``rgb2gray`` (uint8)           higher
=========  ===========================  ====================================  =========

Each module registers its metrics with their metadata (label, direction, range, paper,
reference release, version) in :data:`~features.fullref.registry.FR_METRICS`, the one place
they are written; the benchmark's FR rows are built from it.
"""
from collections.abc import Iterator, Mapping
from typing import Callable

# imported in the tables' row order (registration order): PSNR, SSIM, MS-SSIM, FSIMc, GMSD, VIF
from .registry import FR_METRICS, FRMetric, get_metric, register_metric
from .psnr import psnr
from .ssim import ms_ssim, ssim
from .fsim import fsim, phase_congruency
from .gmsd import gmsd
from .vif import vif

__all__ = ["psnr", "ssim", "ms_ssim", "fsim", "gmsd", "vif", "phase_congruency", "METRICS", "FR_METRICS",
           "FRMetric", "get_metric", "register_metric"]


class _MetricsView(Mapping):
    """``name -> (function, higher_better)``: the older view of :data:`FR_METRICS` (read-only, current)."""

    def __getitem__(self, name: str) -> tuple[Callable[..., float], bool]:
        m = get_metric(name)
        return m.func, m.higher_better

    def __iter__(self) -> Iterator[str]:
        return iter(FR_METRICS.names())

    def __len__(self) -> int:
        return len(FR_METRICS.names())


METRICS = _MetricsView()
