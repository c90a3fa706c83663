"""Small torch helpers shared by ``deep/``: seeding, device choice, mixed precision.

``seed_everything`` is the one place that fixes seeds for ``deep/`` (Python ``random``,
NumPy's legacy global generator, torch CPU and CUDA).  Code that needs its own
stream (random crops) derives a ``numpy.random.Generator`` from a seed instead of
touching global state (see :func:`derived_rng`).
"""
from __future__ import annotations

import contextlib
import os
import random
from typing import Iterator

import numpy as np
import torch

__all__ = ["seed_everything", "select_device", "autocast", "derived_rng", "random_crop_corners", "IMAGENET_MEAN", "IMAGENET_STD"]

# ImageNet normalisation used by every torchvision classification model (RGB in [0, 1]).
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed ``random``, NumPy's global generator and torch (CPU and every CUDA device).

    ``deterministic=True`` also asks cuDNN/torch for deterministic kernels (slower on GPU).
    """
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
    os.environ.setdefault("PYTHONHASHSEED", str(seed))
    if deterministic:
        torch.backends.cudnn.benchmark = False
        torch.backends.cudnn.deterministic = True
        torch.use_deterministic_algorithms(True, warn_only=True)


def select_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a :class:`torch.device`; ``None`` = CUDA when available, else CPU."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    dev = torch.device(device)
    if dev.type == "cuda" and not torch.cuda.is_available():
        raise RuntimeError(f"device {device!r} requested but CUDA is not available")
    return dev


@contextlib.contextmanager
def autocast(device: torch.device, enabled: bool = True) -> Iterator[None]:
    """Mixed precision on CUDA only (bfloat16 where supported, else float16); no-op on CPU."""
    if enabled and device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        with torch.autocast(device_type="cuda", dtype=dtype):
            yield
    else:
        yield


def derived_rng(seed: int, digest: str, *extra: int) -> np.random.Generator:
    """A generator that depends only on ``seed``, a hex file digest and optional integers.

    Used for per-image random crops: the same image gets the same crops in any order,
    in any process, on any machine.
    """
    entropy = [int(seed) & 0xFFFFFFFF, int(digest[:16], 16), *(int(e) & 0xFFFFFFFF for e in extra)]
    return np.random.default_rng(np.random.SeedSequence(entropy))


def random_crop_corners(h: int, w: int, size: int, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` top-left corners ``(row, col)`` drawn uniformly so a ``size`` crop fits in ``h x w``."""
    rows = rng.integers(0, h - size + 1, size=n)
    cols = rng.integers(0, w - size + 1, size=n)
    return np.stack([rows, cols], axis=1).astype(np.int64)
