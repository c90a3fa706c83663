"""CORNIA features (Ye, Kumar, Kang & Doermann, CVPR 2012), a fitted scikit-learn transformer.

Per image (as the authors' ``cornia_feature.m``):

1. grey = MATLAB ``rgb2gray`` on uint8 (rounded) as double (:func:`features.matlab.gray_double`);
2. all ``7 x 7`` patches (stride 1, ``im2col``), of which ``n_patches_per_image`` (10000)
   are drawn at random (``random_state``; the same positions for images of one size);
3. **local normalisation** per patch: ``(p - mean(p)) / sqrt(var(p) + 10)`` (``var`` with
   ``n - 1``), on ``[0, 255]``;
4. **ZCA whitening** ``(p - M) P`` with ``P = V diag(1 / sqrt(d + 0.1)) V^T`` from the
   eigen-decomposition of the covariance of the training patches (Coates et al.);
5. **soft encoding** against the codebook ``D`` (rows normalised to unit length):
   ``z = p D^T``, code ``[max(z, 0), max(-z, 0)]`` (2K values);
6. **max pooling** over the patches -> a ``2K`` vector.

``fit`` learns ``M``, ``P`` and the codebook **only from the images passed to it** (the
training split): ``n_codebook_patches`` patches sampled evenly across them, then
``codebook="kmeans"`` (default: ``codebook_iter`` Lloyd iterations of :func:`features.kmeans.kmeans`
on the whitened patches, a fixed recipe that depends on the patches and ``random_state`` only,
not on the scikit-learn release or the core count) or ``codebook="random"`` (a random sample of
whitened training patches, the cheap alternative the paper reports to work about as well).  The release ships a
codebook learned once on CSIQ; here it is re-learned on every training split so that no
test image ever informs it.

Encodings go through the shared :class:`~features.cache.FeatureCache` under the
extractor name ``"cornia"`` with a digest of the fitted codebook and whitening in the
key, so a re-run with the same fitted state recomputes nothing, and a different
codebook never reads stale entries.  The fitted state itself is cached too (entry
``cornia_codebook``, keyed by the parameters and the SHA-256 of the training files in
order), so refitting on the same training split loads it instead of re-learning it; the
training images that fail are then reported by ``transform`` alone.

Codebook size: the paper uses ``K = 10000`` (20000-D features).  Measured with
``bench/bench_speed.py`` (one core, float32 BLAS, a loaded 2-core machine), encoding a 512x384
image (10000 patches) costs about 0.03 s at ``K = 1000`` and 0.18 s at ``K = 10000`` (the
float32 product of 10000 words by 10000 patches); see
:mod:`benchmark.methods.classical` for the presets.
"""
from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from typing import Any

import numpy as np
from sklearn.base import BaseEstimator, TransformerMixin

from ._scratch import scratch
from ._threads import limit_threads
from .cache import FeatureCache, default_cache_dir, file_digest, params_digest
from .extraction import Extractor, extract_features, paths_of
from .imageio import ImageError, as_rgb_uint8, check_min_size, check_not_constant, load_image
from .matlab import gray_double as to_gray_uint8
from .matlab import rgb2gray

__all__ = ["CorniaFeatures", "sample_patches", "normalise_patches", "zca_whitening", "encode_patches"]

VERSION = "4"          # 2: blocked float32 encoding (values move by ~1e-6); 3: own k-means codebook;
#                        4: k-means assignment screened in float32, near-ties decided by one float64 formula
#: the benchmark row's metadata (:mod:`benchmark.methods.classical` builds the method from it)
METADATA = {
    "name": "cornia", "label": "CORNIA",
    "paper": "Ye, Kumar, Kang & Doermann, Unsupervised feature learning framework for no-reference image quality "
             "assessment, CVPR 2012",
    "reference": "cornia_feature.m (authors' release); codebook and whitening re-learned on each training split",
}
NORM_EPS = 10.0        # sqrt(var + 10) in the release (grey levels on [0, 255])
ZCA_EPS = 0.1          # whitening regulariser (Coates et al.; the release's CSIQ parameters)
_CHUNK = 128           # codebook words per encoding block (128 x 10000 patches: 5 MB)


def _threads(n: int = 1, api: str | None = "blas"):
    """Context limiting BLAS (``api="blas"``) or all native thread pools (``api=None``) to ``n``
    (:func:`features._threads.limit_threads`).

    Images are the unit of parallelism (joblib/Dask); multi-threaded BLAS/OpenMP on these
    small products is many times slower than one thread on a shared, busy machine.
    """
    return limit_threads(n, api)


@lru_cache(maxsize=16)
def _positions(total: int, n: int, seed: int) -> np.ndarray:
    """The first ``n`` of ``default_rng(seed).permutation(total)`` (cached: same positions for
    every image of one size)."""
    idx = np.random.default_rng(seed).permutation(total)[:n]
    idx.setflags(write=False)
    return idx


@lru_cache(maxsize=16)
def _patch_offsets(width: int, patch_size: int) -> np.ndarray:
    """Flat offsets of a patch's pixels from its top-left corner, column-major (``im2col``)."""
    k = np.arange(patch_size * patch_size)
    offs = (k % patch_size) * width + k // patch_size
    offs.setflags(write=False)
    return offs


def sample_patches(image: np.ndarray, patch_size: int = 7, n: int | None = 10000,
                   rng: np.random.Generator | int | None = 0, source: object = None) -> np.ndarray:
    """``n`` random ``patch_size^2`` grey patches (rows, column-major like ``im2col``) of one image.

    ``n=None`` (or more than available) returns every patch.  Raises :class:`ImageError`
    for constant images and images smaller than the patch.  The positions are the first ``n``
    of a random permutation of all top-left corners (row-major), drawn from ``rng``.
    """
    arr = np.asarray(image)
    if arr.ndim == 3 and arr.shape[2] in (3, 4):
        gray = rgb2gray(as_rgb_uint8(arr, source))      # integer levels: gathered as uint8, same values
    else:
        gray = to_gray_uint8(arr, source)
    check_min_size(gray, patch_size, source=source, what=f"{patch_size}x{patch_size} CORNIA patch")
    check_not_constant(gray, source)
    h, w = gray.shape
    rows, cols = h - patch_size + 1, w - patch_size + 1
    total = rows * cols
    if n is None or n >= total:
        idx = np.arange(total)
    elif isinstance(rng, (int, np.integer)) and not isinstance(rng, bool):
        idx = _positions(total, int(n), int(rng))
    else:
        gen = rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)
        idx = gen.permutation(total)[:n]
    corner = (idx // cols) * w + idx % cols
    flat = np.ascontiguousarray(gray).ravel()
    return flat[corner[:, None] + _patch_offsets(w, patch_size)].astype(np.float64)


def normalise_patches(patches: np.ndarray) -> np.ndarray:
    """Per-patch contrast normalisation ``(p - mean) / sqrt(var(ddof=1) + 10)``.

    The same reductions as ``p.mean(axis=1)`` and ``p.var(axis=1, ddof=1)`` (bit for bit),
    with the deviations computed once.
    """
    p = np.asarray(patches, dtype=np.float64)
    n = p.shape[1]
    mu = np.add.reduce(p, axis=1, keepdims=True)
    mu /= n
    d = p - mu
    var = np.add.reduce(d * d, axis=1, keepdims=True)
    var /= n - 1
    var += NORM_EPS
    np.sqrt(var, out=var)
    d /= var
    return d


def zca_whitening(patches: np.ndarray, eps: float = ZCA_EPS) -> tuple[np.ndarray, np.ndarray]:
    """``(M, P)`` with ``whitened = (p - M) @ P``, ``P = V diag(1/sqrt(d + eps)) V^T`` of ``cov(p)``."""
    p = np.asarray(patches, dtype=np.float64)
    mean = p.mean(axis=0)
    cov = np.cov(p, rowvar=False)
    d, v = np.linalg.eigh(cov)
    return mean, (v * (1.0 / np.sqrt(d + eps))) @ v.T


def encode_patches(whitened: np.ndarray, codebook: np.ndarray) -> np.ndarray:
    """Soft encoding + max pooling: ``[max(0, max_i z_i), max(0, -min_i z_i)]``, ``z = p D^T`` (2K).

    float32 products in blocks of codebook words (``D_block @ P^T`` into one reused buffer), so
    each block's maxima and minima are reduced along contiguous rows while it is in cache;
    memory is bounded by the block (``_CHUNK x n`` floats), not by ``K``.
    """
    d = np.ascontiguousarray(np.asarray(codebook, dtype=np.float32))          # (K, d)
    xt = np.ascontiguousarray(np.asarray(whitened, dtype=np.float32).T)       # (d, n)
    k = d.shape[0]
    zmax = np.empty(k, dtype=np.float32)
    zmin = np.empty(k, dtype=np.float32)
    buf = scratch("cornia_z", (min(k, _CHUNK), xt.shape[1]), np.float32)
    with _threads():
        for i in range(0, k, _CHUNK):
            j = min(k, i + _CHUNK)
            z = np.matmul(d[i:j], xt, out=buf[:j - i])
            z.max(axis=1, out=zmax[i:j])
            z.min(axis=1, out=zmin[i:j])
    return np.concatenate([np.maximum(zmax, 0.0), np.maximum(-zmin, 0.0)]).astype(np.float64)


class _Encoder:
    """Picklable per-image function for :func:`~features.extraction.extract_features`."""

    def __init__(self, codebook: np.ndarray, mean: np.ndarray, whiten: np.ndarray, patch_size: int,
                 n_patches: int | None, random_state: int | None):
        self.codebook = codebook
        self.mean = mean
        self.whiten = whiten
        self.patch_size = patch_size
        self.n_patches = n_patches
        self.random_state = random_state

    def __call__(self, image: np.ndarray, **_key_params: Any) -> np.ndarray:
        p = normalise_patches(sample_patches(image, self.patch_size, self.n_patches, self.random_state))
        with _threads():
            white = (p - self.mean) @ self.whiten
        return encode_patches(white, self.codebook)


def _training_patches(path: str, patch_size: int, n: int, seed: int) -> tuple[np.ndarray | None, str | None]:
    try:
        return normalise_patches(sample_patches(load_image(path), patch_size, n, seed, source=path)), None
    except ImageError as exc:
        return None, exc.reason if exc.source == path else str(exc)
    except OSError as exc:
        return None, f"I/O error: {exc}"


class CorniaFeatures(TransformerMixin, BaseEstimator):
    """CORNIA codebook features: records (column ``image``) or paths -> ``(n, 2 * codebook_size)``.

    Parameters: ``codebook_size`` K (paper 10000); ``patch_size`` (7); ``n_patches_per_image``
    patches encoded per image (10000, as the release); ``n_codebook_patches`` training patches
    sampled (evenly across the fit images) to learn the whitening and the codebook;
    ``codebook`` ``"kmeans"`` or ``"random"``; ``codebook_iter`` Lloyd iterations of the k-means
    codebook (10); ``cache_dir``/``n_jobs``/``scheduler``/``progress``
    as :class:`~features.extraction.ImageFeatures`.  Failed images give NaN rows, listed in
    ``failures_``.
    """

    def __init__(self, codebook_size: int = 10000, patch_size: int = 7, n_patches_per_image: int | None = 10000,
                 n_codebook_patches: int = 100_000, codebook: str = "kmeans", random_state: int = 0,
                 cache_dir: Any = True, n_jobs: int = 1, scheduler: Any = None, progress: bool = False,
                 codebook_iter: int = 10):
        self.codebook_size = codebook_size
        self.patch_size = patch_size
        self.n_patches_per_image = n_patches_per_image
        self.n_codebook_patches = n_codebook_patches
        self.codebook = codebook
        self.random_state = random_state
        self.cache_dir = cache_dir
        self.n_jobs = n_jobs
        self.scheduler = scheduler
        self.progress = progress
        self.codebook_iter = codebook_iter

    # -- fitting --------------------------------------------------------------------------
    def fit(self, X: Any, y: Any = None) -> "CorniaFeatures":
        import joblib

        if self.codebook not in ("kmeans", "random"):
            raise ValueError(f"codebook must be 'kmeans' or 'random', got {self.codebook!r}")
        paths = paths_of(X)
        if not paths:
            raise ValueError("CorniaFeatures.fit needs at least one training image")
        self.failures_ = {}
        cache, key = self._state_cache(paths)
        if key is not None:
            state = cache.get(key)
            if state is not None:
                self._set_state(state)
                return self
        per_image = int(np.ceil(self.n_codebook_patches / len(paths)))
        seeds = np.random.SeedSequence(self.random_state).generate_state(len(paths))
        outs = joblib.Parallel(n_jobs=self.n_jobs)(
            joblib.delayed(_training_patches)(p, self.patch_size, per_image, int(s)) for p, s in zip(paths, seeds))
        self.failures_ = {p: err for p, (_, err) in zip(paths, outs) if err is not None}
        blocks = [pt for pt, _ in outs if pt is not None]
        if not blocks:
            raise ValueError(f"no training image could be read; failures: {list(self.failures_.items())[:5]}")
        patches = np.concatenate(blocks)
        if patches.shape[0] < self.codebook_size:
            raise ValueError(f"{patches.shape[0]} training patches cannot give a codebook of "
                             f"{self.codebook_size}: raise n_codebook_patches or lower codebook_size")
        n_threads = (os.cpu_count() or 1) if self.n_jobs in (None, -1) else max(1, int(self.n_jobs))
        with _threads(n_threads, api=None):
            self._learn(patches, n_threads)
        if key is not None:
            cache.put(key, np.concatenate([self.codebook_.ravel(), self.whiten_mean_, self.whiten_matrix_.ravel()]))
        return self

    def _state_cache(self, paths: list[str]) -> tuple[FeatureCache, str | None]:
        """The cache and the key of the fitted state for these training files (None: no caching)."""
        if isinstance(self.cache_dir, FeatureCache):
            cache = self.cache_dir
        else:
            root = default_cache_dir() if self.cache_dir is True else (self.cache_dir or None)
            cache = FeatureCache(root)
        if not cache.enabled:
            return cache, None
        try:
            files = hashlib.sha256("".join(file_digest(p) for p in paths).encode()).hexdigest()
        except OSError:                               # a missing file: learn without caching
            return cache, None
        params = {"K": self.codebook_size, "patch_size": self.patch_size, "codebook": self.codebook,
                  "n_codebook_patches": self.n_codebook_patches, "random_state": self.random_state}
        if self.codebook == "kmeans":
            params["codebook_iter"] = int(self.codebook_iter)
        return cache, f"cornia_codebook/{params_digest('cornia_codebook', VERSION, params)}/{files}"

    def _set_state(self, state: np.ndarray) -> None:
        d = self.patch_size ** 2
        k = self.codebook_size
        self._store(state[:k * d].reshape(k, d), state[k * d:k * d + d], state[k * d + d:].reshape(d, d))

    def _learn(self, patches: np.ndarray, threads: int = 1) -> None:
        mean, whiten = zca_whitening(patches)
        white = (patches - mean) @ whiten
        rng = np.random.default_rng(self.random_state)
        if self.codebook == "random":
            words = white[rng.choice(white.shape[0], self.codebook_size, replace=False)]
        else:
            from .kmeans import kmeans

            words = kmeans(white, self.codebook_size, n_iter=int(self.codebook_iter),
                           random_state=self.random_state, threads=threads)[0]
        words = words / (np.linalg.norm(words, axis=1, keepdims=True) + 1e-20)
        self._store(words, mean, whiten)

    def _store(self, words: np.ndarray, mean: np.ndarray, whiten: np.ndarray) -> None:
        self.whiten_mean_ = mean
        self.whiten_matrix_ = whiten
        self.codebook_ = words
        h = hashlib.sha256()
        for arr in (words, mean, whiten):
            h.update(np.ascontiguousarray(arr, dtype=np.float64).tobytes())
        self.codebook_digest_ = h.hexdigest()[:16]

    # -- encoding -------------------------------------------------------------------------
    def extractor_(self) -> Extractor:
        """The per-image extractor of the fitted state (its cache key includes the codebook digest)."""
        if not hasattr(self, "codebook_"):
            from sklearn.exceptions import NotFittedError

            raise NotFittedError("CorniaFeatures is not fitted: call fit(training records) first")
        enc = _Encoder(self.codebook_, self.whiten_mean_, self.whiten_matrix_, self.patch_size,
                       self.n_patches_per_image, self.random_state)
        params = {"codebook": self.codebook_digest_, "K": int(self.codebook_.shape[0]),
                  "patch_size": self.patch_size, "n_patches": self.n_patches_per_image,
                  "random_state": self.random_state}
        return Extractor("cornia", enc, VERSION, params,
                         paper="Ye, Kumar, Kang & Doermann, Unsupervised feature learning framework for "
                               "no-reference image quality assessment, CVPR 2012",
                         reference="cornia_feature.m (Ye et al.; lightweight version by K. Ma)")

    def transform(self, X: Any) -> np.ndarray:
        res = extract_features(paths_of(X), self.extractor_(), cache=self.cache_dir, n_jobs=self.n_jobs,
                               scheduler=self.scheduler, progress=self.progress, desc="cornia")
        if not hasattr(self, "failures_"):
            self.failures_ = {}
        self.failures_.update(res.failures)
        self.last_result_ = res
        if res.X.shape[1] == 0:                    # every image failed: keep the documented width
            return np.full((len(res.X), 2 * self.codebook_.shape[0]), np.nan)
        return res.X

    def transform_image(self, image: np.ndarray) -> np.ndarray:
        """Encode one in-memory image (no cache)."""
        return self.extractor_()(image)
