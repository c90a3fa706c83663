"""Hand-crafted IQA features and full-reference metrics (numpy/scipy/OpenCV only; never torch)."""
from .imageio import ImageError, load_image

__all__ = ["ImageError", "load_image"]
