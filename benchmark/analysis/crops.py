"""Per-crop CNN features: the crops that :class:`deep.features.CNNFeatures` averages, kept apart.

Bianco et al. (paper 003, Fig. 3 and "Aggregation strategies") vary the number of image
sub-regions and how they are fused: feature pooling (element-wise average, minimum or
maximum of the sub-region feature vectors), feature concatenation, and prediction pooling
(one SVR score per sub-region, averaged).  All of them need the feature vector of every
crop, which ``CNNFeatures`` (mean over crops) does not return, so :class:`CropFeatures`
computes them with the same public building blocks and the same crops: corners from
:func:`deep._utils.derived_rng` seeded with ``(seed, SHA-256 of the file)``, the same
:class:`deep.features.FeatureNet` tap, ImageNet normalisation, float32 on the CPU.  The
mean of its ``n_crops`` vectors is ``CNNFeatures(n_crops=n_crops).transform`` (tested).

The first ``k`` crops of a draw of ``n`` are a draw of ``k`` crops (corners are i.i.d.), so
one extraction of 25 crops serves every ``k <= 25`` of a sweep.  Each image's ``n x D``
matrix goes through the shared :class:`features.cache.FeatureCache` (entry
``cnn-crops-{arch}-{tap}``, keyed by ``CNNFeatures.cache_params()``).
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

__all__ = ["POOLINGS", "CropFeatures", "pool_crops"]

VERSION = "1"
#: Bianco et al.'s aggregation strategies; "prediction" (average of per-crop SVR scores) is done by the regressor
POOLINGS = ("mean", "min", "max", "concat", "prediction")


def pool_crops(F: np.ndarray, k: int, pooling: str) -> np.ndarray:
    """``(n_images, n_crops, D)`` -> image features from the first ``k`` crops (feature pooling)."""
    if not 1 <= k <= F.shape[1]:
        raise ValueError(f"k must be in 1..{F.shape[1]}, got {k}")
    sub = F[:, :k]
    if pooling == "mean":
        return sub.mean(axis=1)
    if pooling == "min":
        return sub.min(axis=1)
    if pooling == "max":
        return sub.max(axis=1)
    if pooling == "concat":
        return sub.reshape(len(F), -1)
    raise ValueError(f"feature pooling must be one of mean, min, max, concat; got {pooling!r}")


class CropFeatures:
    """Per-crop features of a :class:`deep.features.CNNFeatures` configuration (see module doc)."""

    def __init__(self, cnn: Any, batch_images: int = 2, progress: bool = False):
        self.cnn = cnn
        self.batch_images = batch_images
        self.progress = progress
        self.failures_: dict[str, str] = {}

    def _cache(self):
        from features.cache import FeatureCache, default_cache_dir

        c = self.cnn.cache_dir
        if c is True:
            return FeatureCache(default_cache_dir())
        if c is None or c is False:
            return FeatureCache(None)
        return c if isinstance(c, FeatureCache) else FeatureCache(c)

    def _net(self):
        import torch

        from deep.backbones import build_backbone
        from deep.features import FeatureNet

        if getattr(self, "net_", None) is None and getattr(self.cnn, "net_", None) is not None:
            self.net_ = self.cnn.net_                    # the CNNFeatures' own network, already built
        if getattr(self, "net_", None) is None:
            import warnings

            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*left randomly initialised", category=UserWarning)
                backbone = build_backbone(self.cnn.arch, self.cnn.weights, seed=int(self.cnn.seed))
            self.net_ = FeatureNet.for_inference(backbone, self.cnn.arch.lower(), self.cnn.cache_params()["tap"])
            torch.set_grad_enabled(True)   # inference_mode is used per batch
        return self.net_

    def transform(self, X: Any, cache_only: bool = False) -> np.ndarray:
        """``(n_images, n_crops, D)`` float32; rows of images that fail are NaN (reasons in ``failures_``).

        ``cache_only``: leave images whose features are not cached as NaN (nothing is computed)."""
        import torch

        from deep._utils import derived_rng
        from deep.backbones import normalize
        from deep.features import CNN_FEATURES_VERSION, feature_dim, image_crops
        from features.cache import file_digest
        from features.extraction import paths_of
        from features.imageio import ImageError, load_image

        paths = paths_of(X)
        params = self.cnn.cache_params()
        n, size, tap = int(params["n_crops"]), int(params["crop_size"]), params["tap"]
        dim = feature_dim(self.cnn.arch.lower(), tap)
        name = f"cnn-crops-{self.cnn.arch.lower()}-{tap}"
        version = f"{CNN_FEATURES_VERSION}.{VERSION}"
        cache = self._cache()
        out = np.full((len(paths), n, dim), np.nan, dtype=np.float32)
        todo = []
        for i, p in enumerate(paths):
            try:
                key = cache.key(name, version, params, p) if cache.enabled else None
            except OSError as exc:
                self.failures_[p] = f"I/O error: {exc}"
                continue
            vec = cache.get(key) if key is not None else None
            if vec is not None and vec.size == n * dim:
                out[i] = vec.reshape(n, dim)
            elif not cache_only:
                todo.append((i, key))
        items: Sequence = todo
        if self.progress and todo:
            from tqdm.auto import tqdm

            items = tqdm(todo, desc=name, unit="img", leave=False)
        pending: list[tuple[int, Any, np.ndarray]] = []

        def flush():
            if not pending:
                return
            x = normalize(torch.from_numpy(np.concatenate([c for _, _, c in pending])))
            with torch.inference_mode():
                f = self._net()(x).float().numpy().astype(np.float64)
            for j, (i, key, _) in enumerate(pending):
                m = f[j * n:(j + 1) * n]
                if not np.all(np.isfinite(m)):
                    self.failures_[paths[i]] = "non-finite network output"
                    continue
                out[i] = m
                if key is not None:
                    cache.put(key, m.ravel())
            pending.clear()

        for i, key in items:
            p = paths[i]
            try:
                rng = derived_rng(int(params["seed"]), file_digest(p))
                crops = image_crops(load_image(p), n, size, rng, p, bool(params["upsample_small"]))
            except ImageError as exc:
                self.failures_[p] = exc.reason if exc.source == p else str(exc)
                continue
            except OSError as exc:
                self.failures_[p] = f"I/O error: {exc}"
                continue
            pending.append((i, key, crops))
            if len(pending) >= self.batch_images:
                flush()
        flush()
        return out

    def __getstate__(self) -> dict:
        state = dict(self.__dict__)
        state.pop("net_", None)
        return state


def cnn_features(arch: str, weights: Any, n_crops: int = 25, cache_dir: Any = True, **kw: Any):
    """A :class:`deep.features.CNNFeatures` (the configuration a :class:`CropFeatures` mirrors)."""
    from deep.features import CNNFeatures

    return CNNFeatures(arch=arch, weights=os.fspath(weights) if isinstance(weights, os.PathLike) else weights,
                       n_crops=n_crops, cache_dir=cache_dir, **kw)
