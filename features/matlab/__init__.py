"""One home for the MATLAB look-alikes the releases' numbers depend on.

The reference implementations of the hand-crafted features and FR metrics are MATLAB code;
where MATLAB's conventions differ from numpy/OpenCV defaults they change feature values, so
every module uses these functions instead of writing its own:

* :func:`rgb2gray` (``uint8`` in, ``uint8`` out, rounded) and :func:`gray_double`
  (``double(rgb2gray(I))``); :func:`round_half_away` (MATLAB ``round``);
* :func:`fspecial_gaussian` (2-D, MATLAB's ``eps`` cut) and its separable factor
  :func:`gaussian_1d`; :func:`hanning`;
* :func:`filter2`, :func:`imfilter`, :func:`conv2` with MATLAB's anchors and padding, and
  :func:`box_mean` (``imfilter``/``conv2`` with ``ones(m)/m^2`` then subsampling);
* :func:`imresize` (bicubic/bilinear/box/Lanczos, antialiasing, MATLAB's geometry);
* :func:`prctile`.

The unrounded ``rgb2gray`` on floats and the image loader live in :mod:`features.imageio`;
matlabPyrTools pyramids stay with the metrics that use them (``diivine``, ``fullref.vif``).
"""
from .color import gray_double, rgb2gray, round_half_away
from .filters import (BOUNDARIES, box_mean, conv2, filter2, filter2_valid_separable, fspecial_gaussian, gaussian_1d,
                      hanning, imfilter)
from .imresize import KERNELS, cubic, imresize, resize_weights
from .stats import prctile

__all__ = [
    "round_half_away",
    "rgb2gray",
    "gray_double",
    "fspecial_gaussian",
    "gaussian_1d",
    "hanning",
    "filter2",
    "imfilter",
    "conv2",
    "box_mean",
    "filter2_valid_separable",
    "BOUNDARIES",
    "imresize",
    "resize_weights",
    "cubic",
    "KERNELS",
    "prctile",
]
