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
"""
from .fsim import fsim, phase_congruency
from .gmsd import gmsd
from .psnr import psnr
from .ssim import ms_ssim, ssim
from .vif import vif

__all__ = ["psnr", "ssim", "ms_ssim", "fsim", "gmsd", "vif", "phase_congruency", "METRICS"]

#: name -> (function, higher_better)
METRICS = {
    "psnr": (psnr, True),
    "ssim": (ssim, True),
    "ms_ssim": (ms_ssim, True),
    "fsimc": (fsim, True),
    "gmsd": (gmsd, False),
    "vif": (vif, True),
}
