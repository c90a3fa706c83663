"""The CORNIA codebook learner: Lloyd's k-means with a fixed recipe (features.kmeans)."""
from __future__ import annotations

import numpy as np
import pytest

from features.kmeans import kmeans


def _blobs(seed=0, n=600, k=6, d=5):
    rng = np.random.default_rng(seed)
    centres = rng.normal(scale=6.0, size=(k, d))
    return np.repeat(centres, n // k, axis=0) + rng.normal(size=(n, d)), centres


def test_kmeans_finds_separated_clusters_and_is_deterministic():
    x, centres = _blobs()
    c, labels, inertia = kmeans(x, 6, n_iter=20, random_state=0)
    assert c.shape == (6, 5) and labels.shape == (600,)
    assert all(b <= a + 1e-9 for a, b in zip(inertia, inertia[1:]))    # Lloyd never increases the inertia
    c2, labels2, _ = kmeans(x, 6, n_iter=20, random_state=0)
    np.testing.assert_array_equal(c, c2)                               # bit for bit
    np.testing.assert_array_equal(labels, labels2)
    assert not np.array_equal(kmeans(x, 6, n_iter=20, random_state=1)[0], c)   # the seed matters
    # every centre is the mean of its rows
    for j in range(6):
        np.testing.assert_allclose(c[j], x[labels == j].mean(axis=0), atol=1e-12)


def test_kmeans_is_the_same_with_one_and_two_threads():
    rng = np.random.default_rng(3)
    x = rng.normal(size=(3000, 49))
    a = kmeans(x, 64, n_iter=5, random_state=0, threads=1)[0]
    b = kmeans(x, 64, n_iter=5, random_state=0, threads=2)[0]
    np.testing.assert_array_equal(a, b)


def test_kmeans_refills_empty_clusters_and_checks_k():
    x = np.vstack([np.zeros((50, 2)), np.ones((50, 2)) * 10, [[100.0, 100.0]]])
    c, labels, _ = kmeans(x, 3, n_iter=10, random_state=0)
    assert len(np.unique(labels)) == 3                                # the outlier got its own centre
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, 200)
