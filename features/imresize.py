"""Moved to :mod:`features.matlab.imresize` (kept so that old imports keep working)."""
from .matlab.imresize import KERNELS, cubic, imresize, resize_weights

__all__ = ["imresize", "resize_weights", "cubic", "KERNELS"]
