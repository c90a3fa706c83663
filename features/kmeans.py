"""Lloyd's k-means with a fixed recipe: the CORNIA codebook learner.

CORNIA (Ye et al. 2012, Sec. 3.2) learns its codebook by k-means clustering of whitened,
normalised patches.  The result must be a function of the training patches and a seed
alone, so this is plain Lloyd iteration (Lloyd 1982) with every step fixed here:

* **init**: ``n_clusters`` distinct rows drawn with ``numpy.random.default_rng(random_state)``
  (Forgy; the ``init="random"`` of scikit-learn);
* **assignment**: nearest centre by ``||c||^2 - 2 x.c`` (float64, BLAS products in row blocks),
  ties to the lowest centre index (``argmin``);
* **update**: each centre = mean of its rows (float64, summed in row order); an empty cluster
  takes the row farthest from its centre (then the next farthest, ...);
* **stop**: after ``n_iter`` iterations, or earlier when no assignment changed.

scikit-learn's ``MiniBatchKMeans`` (used before) draws its mini-batches, reassigns small
clusters and stops early by rules that changed between releases; its codebook, and CORNIA's
quick-table row with it, changed with the installed version (identical codebooks with 1.7.2
and 1.8.0, another with 1.9.1).  This learner uses NumPy only.  Its products run with
``threads`` BLAS threads (:func:`features.determinism.limit_threads`); OpenBLAS splits a
product by rows and columns, never along the summed dimension, so the codebook is the same
with 1 and 2 threads (``tests/test_kmeans.py``).  Cost: about one ``n x k x d`` product per
iteration, e.g. 0.5 s per iteration for 20000 x 1000 x 49 on one busy core of the development
machine, the time scikit-learn's ``MiniBatchKMeans`` took for its whole fit there.
"""
from __future__ import annotations

import numpy as np

from .determinism import limit_threads

__all__ = ["kmeans"]

_BLOCK = 2048          # rows per assignment block (2048 x 10000 float64 distances: 160 MB)


def _assign(x: np.ndarray, centers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each row and the squared distance to it."""
    cn = np.einsum("ij,ij->i", centers, centers)
    xn = np.einsum("ij,ij->i", x, x)
    labels = np.empty(len(x), dtype=np.int64)
    dist = np.empty(len(x), dtype=np.float64)
    ct = np.ascontiguousarray(centers.T)
    for s in range(0, len(x), _BLOCK):
        d = x[s:s + _BLOCK] @ ct
        d *= -2.0
        d += cn
        lab = np.argmin(d, axis=1)
        labels[s:s + _BLOCK] = lab
        dist[s:s + _BLOCK] = np.maximum(d[np.arange(len(lab)), lab] + xn[s:s + _BLOCK], 0.0)
    return labels, dist


def _means(x: np.ndarray, labels: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Per-cluster sums divided by counts (rows summed in their original order) and the counts."""
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=k)
    sums = np.zeros((k, x.shape[1]), dtype=np.float64)
    nz = np.flatnonzero(counts)
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])[nz]
    sums[nz] = np.add.reduceat(x[order], starts, axis=0)
    return sums / np.maximum(counts, 1)[:, None], counts


def kmeans(x: np.ndarray, n_clusters: int, n_iter: int = 10, random_state: int = 0,
           threads: int = 1) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """``(centers, labels, inertia per iteration)`` of Lloyd's k-means (see the module docstring).

    ``x``: ``(n, d)`` rows (converted to float64); ``n_clusters <= n``.
    """
    x = np.ascontiguousarray(x, dtype=np.float64)
    n = x.shape[0]
    if not 1 <= n_clusters <= n:
        raise ValueError(f"n_clusters must be in [1, {n}] (the number of rows), got {n_clusters}")
    rng = np.random.default_rng(random_state)
    centers = x[np.sort(rng.choice(n, size=n_clusters, replace=False))].copy()
    labels = np.full(n, -1, dtype=np.int64)
    inertia: list[float] = []
    with limit_threads(threads):
        for _ in range(max(1, int(n_iter))):
            new, dist = _assign(x, centers)
            inertia.append(float(dist.sum()))
            if np.array_equal(new, labels):
                break
            labels = new
            centers, counts = _means(x, labels, n_clusters)
            empty = np.flatnonzero(counts == 0)
            if empty.size:
                far = np.argsort(-dist, kind="stable")[:empty.size]
                centers[empty] = x[far]
    return centers, labels, inertia
