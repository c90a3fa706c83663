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


def test_labels_depend_neither_on_the_blocks_nor_on_the_threads(monkeypatch):
    import features.kmeans as km

    rng = np.random.default_rng(4)
    x = rng.normal(size=(2000, 49)) * rng.uniform(0.5, 5.0, size=(2000, 1))
    c = x[rng.choice(2000, 150, replace=False)].copy()
    x[:30] = c[5]                                  # exact ties with the centre's own row
    ref = km._assign(x, c)
    for block, threads in [(7, 1), (7, 2), (64, 2), (4096, 2)]:
        monkeypatch.setattr(km, "_BLOCK", block)
        labels, dist = km._assign(x, c, threads=threads)
        np.testing.assert_array_equal(labels, ref[0])
        np.testing.assert_array_equal(dist, ref[1])


def test_kmeans_refills_empty_clusters_and_checks_k():
    x = np.vstack([np.zeros((50, 2)), np.ones((50, 2)) * 10, [[100.0, 100.0]]])
    c, labels, _ = kmeans(x, 3, n_iter=10, random_state=0)
    assert len(np.unique(labels)) == 3                                # the outlier got its own centre
    with pytest.raises(ValueError, match="n_clusters"):
        kmeans(x, 200)


def test_assignment_is_the_float64_nearest_centre_with_ties_to_the_lowest_index():
    from features.kmeans import _assign

    rng = np.random.default_rng(5)
    x = rng.normal(size=(3000, 49)) * rng.uniform(0.1, 20.0, size=(3000, 1))   # norms over two decades
    c = x[rng.choice(3000, 300, replace=False)].copy()
    c[7] = c[3]                                    # a duplicate centre: its rows go to index 3
    x[:40] = c[3]                                  # rows exactly on it (distance 0, a tie)
    brute = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1)
    labels, dist = _assign(x, c)
    best = brute.min(axis=1)
    # every label is a float64 nearest centre (up to the last bits of the two formulas) ...
    np.testing.assert_allclose(brute[np.arange(len(x)), labels], best, rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(dist, best, rtol=1e-9, atol=1e-9)
    # ... the duplicate's rows take the lower index, and rows far from a near-tie agree exactly
    assert np.all(labels[:40] == 3) and not np.any(labels == 7)
    srt = np.sort(brute, axis=1)
    clear = (srt[:, 1] - srt[:, 0]) > 1e-6 * srt[:, 1]
    np.testing.assert_array_equal(labels[clear], brute.argmin(axis=1)[clear])


def test_assignment_decides_float32_ties_in_float64():
    from features.kmeans import _assign

    rng = np.random.default_rng(6)
    c = rng.normal(size=(200, 49)) * 100.0          # centres far apart: a midpoint's nearest are its pair
    a, b = np.arange(0, 200, 2), np.arange(1, 200, 2)
    # each row a hair (1e-9 of the gap) nearer the higher-indexed centre of its pair: the two
    # distances are equal in float32, not in float64
    x = (c[a] + c[b]) / 2 + 1e-9 * (c[b] - c[a])
    brute = ((x[:, None, :] - c[None, :, :]) ** 2).sum(-1).argmin(axis=1)
    assert (brute == b).sum() >= 90                 # (a third centre may be nearer a few midpoints)
    labels, _ = _assign(x, c)
    np.testing.assert_array_equal(labels, brute)
