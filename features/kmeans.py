"""Lloyd's k-means with a fixed recipe: the CORNIA codebook learner.

CORNIA (Ye et al. 2012, Sec. 3.2) learns its codebook by k-means clustering of whitened,
normalised patches.  The result must be a function of the training patches and a seed
alone, so this is plain Lloyd iteration (Lloyd 1982) with every step fixed here:

* **init**: ``n_clusters`` distinct rows drawn with ``numpy.random.default_rng(random_state)``
  (Forgy; the ``init="random"`` of scikit-learn);
* **assignment**: nearest centre by ``||c||^2 - 2 x.c`` in float64, ties to the lowest centre
  index; computed as a float32 BLAS product in row blocks whose near-ties (within a rounding-error
  bound) are re-decided in float64 by one fixed formula (:func:`_assign`), 3x faster than a
  float64 BLAS product, and independent of the BLAS kernel;
* **update**: each centre = mean of its rows (float64, summed in row order); an empty cluster
  takes the row farthest from its centre (then the next farthest, ...);
* **stop**: after ``n_iter`` iterations, or earlier when no assignment changed.

scikit-learn's ``MiniBatchKMeans`` (used before) draws its mini-batches, reassigns small
clusters and stops early by rules that changed between releases; its codebook, and CORNIA's
quick-table row with it, changed with the installed version (identical codebooks with 1.7.2
and 1.8.0, another with 1.9.1).  This learner uses NumPy only.  Its row blocks run in
``threads`` threads, each product with one BLAS thread (:func:`features.determinism.limit_threads`),
so the reductions run in parallel too; the labels depend neither on the blocks nor on the threads
(every float64 winner passes the float32 screen, see :func:`_assign`), and the codebook is the same
with 1 and 2 threads (``tests/test_kmeans.py``).  On the AVX2 development machine (AMD EPYC,
2 cores) a synth training split's CORNIA fit takes 22.3 s with 64-row blocks in 2 threads against
35.0 s with 512-row blocks and 2 BLAS threads, the same codebook.  Cost: about one float32 ``n x k x (d + 1)``
product per iteration: for CORNIA's 100000 whitened patches, K = 10000, 1.3 CPU-s per iteration
on one core of the first 2-core development machine (10 iterations: 13.1 CPU-s against 46.6 CPU-s for
the float64 products of CORNIA VERSION 3, measured back to back on the same patches; the new
codebook's final inertia 1468825 against 1469055).
"""
from __future__ import annotations

import numpy as np

from .determinism import limit_threads

__all__ = ["kmeans"]

_BLOCK = 64            # rows per assignment block (64 x 10000 float32 distances: 2.5 MB per thread; 512 was
#                        1.9x slower on the AVX2 development machine, whose 32 MB L3 two threads share)
_U32 = 2.0 ** -24      # unit roundoff of float32


def _assign(x: np.ndarray, centers: np.ndarray, threads: int = 1) -> tuple[np.ndarray, np.ndarray]:
    """Nearest centre of each row (ties to the lowest index) and the squared distance to it.

    The float64 nearest centre, found at float32 speed: ``||c||^2 - 2 x.c`` is computed with a
    float32 product, every centre within twice a rounding-error bound of the row's float32
    minimum is a candidate, and rows with more than one candidate are decided in float64 by
    :func:`_rowdot` (ties to the lowest index).  The bound (Higham, *Accuracy and Stability of
    Numerical Algorithms*, Sec. 3.1: ``|fl(x.c) - x.c| <= gamma_d |x||c|``, plus the rounding of
    ``x``, ``c`` and ``||c||^2`` to float32) is doubled again for margin, so no float64 winner is
    screened out.  Whitened patches have many centres at the same distance up to the last bit
    (flat patches normalise to the same vector): those near-ties are decided by one fixed float64
    formula here, where a float64 BLAS product decided them by its kernel's rounding before
    (0.7 % of the rows of the first CORNIA assignment on synth differ from that, none by more
    than 1 ulp of the distance).  ``threads`` > 1: the row blocks run in that many threads, each
    product with one BLAS thread (the reductions run in parallel too; the same values as one thread).
    """
    n, d = x.shape
    cn = np.einsum("ij,ij->i", centers, centers)
    xn = np.einsum("ij,ij->i", x, x)
    cmax = float(np.sqrt(cn.max()))
    bound = 2.0 * (d + 8) * _U32 * (2.0 * np.sqrt(xn) * cmax + cmax * cmax)
    # one float32 product gives ||c||^2 - 2 x.c: rows [x, 1] times columns [-2c, ||c||^2]
    xa = np.empty((n, d + 1), dtype=np.float32)
    xa[:, :d] = x
    xa[:, d] = 1.0
    ca = np.empty((d + 1, len(centers)), dtype=np.float32)
    ca[:d] = -2.0 * centers.T
    ca[d] = cn
    labels = np.empty(n, dtype=np.int64)

    def block(s: int) -> None:
        e = min(n, s + _BLOCK)
        z = xa[s:e] @ ca
        rows = np.arange(e - s)
        lab = np.argmin(z, axis=1)
        thr = (z[rows, lab].astype(np.float64) + 2.0 * bound[s:e]).astype(np.float32)
        z[rows, lab] = np.inf                     # the runner-up decides whether a row is ambiguous
        amb = np.flatnonzero(z.min(axis=1) <= thr)
        if amb.size:                      # several candidates: the float64 distance decides
            r, j = np.nonzero(z[amb] <= thr[amb, None])
            r = np.concatenate([r, np.arange(amb.size)])
            j = np.concatenate([j, lab[amb]])
            exact = cn[j] - 2.0 * _rowdot(x[amb[r] + s], centers[j])
            order = np.lexsort((j, exact, r))
            first = np.ones(order.size, dtype=bool)
            first[1:] = r[order][1:] != r[order][:-1]
            lab[amb[r[order][first]]] = j[order][first]
        labels[s:e] = lab

    starts = range(0, n, _BLOCK)
    if threads > 1 and len(starts) > 1:       # blocks in threads, one BLAS thread each (same values)
        from concurrent.futures import ThreadPoolExecutor

        with limit_threads(1), ThreadPoolExecutor(threads) as pool:
            list(pool.map(block, starts))
    else:
        for s in starts:
            block(s)
    dist = np.maximum(xn + cn[labels] - 2.0 * _rowdot(x, centers[labels]), 0.0)
    return labels, dist


def _rowdot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Row-wise dot products by one fixed summation (NumPy's pairwise sum of the products along
    each contiguous row): the same bits whatever BLAS, thread count or array alignment."""
    return np.add.reduce(a * b, axis=1)


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
            new, dist = _assign(x, centers, threads)
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
