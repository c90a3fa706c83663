"""CORNIA: building blocks, codebook learned only from the fit images, cached encodings, failures."""
from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

import features.cornia as cornia_mod
from features.cornia import CorniaFeatures, encode_patches, normalise_patches, sample_patches, zca_whitening
from features.imageio import ImageError

K = 16


@pytest.fixture(scope="module")
def image_sets(tmp_path_factory, astronaut_small):
    """Two disjoint sets (A: 4 crops of the astronaut, B: 3 blurred/noisy variants) as PNG files."""
    import cv2

    root = tmp_path_factory.mktemp("cornia")
    rng = np.random.default_rng(0)
    a, b = [], []
    for i in range(4):
        crop = astronaut_small[16 * i:16 * i + 64, 10 * i:10 * i + 64]
        p = root / f"a{i}.png"
        Image.fromarray(np.ascontiguousarray(crop)).save(p)
        a.append(str(p))
    for i in range(3):
        img = cv2.GaussianBlur(astronaut_small, (0, 0), 1 + i)[32:96, 32:96].astype(float)
        img = np.clip(img + rng.normal(0, 4 * i, img.shape), 0, 255).astype(np.uint8)
        p = root / f"b{i}.png"
        Image.fromarray(img).save(p)
        b.append(str(p))
    return a, b


def small(**kw) -> CorniaFeatures:
    params = dict(codebook_size=K, n_patches_per_image=500, n_codebook_patches=2000, codebook="kmeans",
                  cache_dir=None)
    params.update(kw)
    return CorniaFeatures(**params)


def test_sample_patches_is_im2col(astronaut_small):
    gray = np.arange(100, dtype=np.uint8).reshape(10, 10)
    p = sample_patches(gray, 3, None)
    assert p.shape == (64, 9)
    # first patch, column-major as MATLAB im2col: [0 10 20 1 11 21 2 12 22]
    np.testing.assert_array_equal(p[0], [0, 10, 20, 1, 11, 21, 2, 12, 22])
    assert sample_patches(astronaut_small, 7, 100, rng=3).shape == (100, 49)
    np.testing.assert_array_equal(sample_patches(astronaut_small, 7, 100, rng=3),
                                  sample_patches(astronaut_small, 7, 100, rng=3))


def test_normalise_whiten_encode():
    rng = np.random.default_rng(1)
    p = rng.random((1000, 49)) * 255 @ rng.random((49, 49)) / 10
    n = normalise_patches(p)
    np.testing.assert_allclose(n.mean(axis=1), 0, atol=1e-10)
    np.testing.assert_allclose(n[0], (p[0] - p[0].mean()) / np.sqrt(p[0].var(ddof=1) + 10))
    m, w = zca_whitening(n)
    white = (n - m) @ w
    # ZCA with eps: covariance becomes V diag(d / (d + 0.1)) V^T, eigenvalues in [0, 1)
    ev = np.linalg.eigvalsh(np.cov(white, rowvar=False))
    assert ev.max() < 1 and ev.min() > -1e-9
    np.testing.assert_allclose(w, w.T, atol=1e-12)
    d = rng.standard_normal((K, 49))
    d /= np.linalg.norm(d, axis=1, keepdims=True)
    z = white @ d.T
    expect = np.concatenate([np.maximum(z, 0).max(axis=0), np.maximum(-z, 0).max(axis=0)])
    np.testing.assert_allclose(encode_patches(white, d), expect, rtol=1e-5, atol=1e-5)


def test_codebook_only_from_fit_images(image_sets, monkeypatch):
    a, b = image_sets
    loaded: list[str] = []
    real = cornia_mod.load_image

    def spy(path):
        loaded.append(str(path))
        return real(path)

    monkeypatch.setattr(cornia_mod, "load_image", spy)
    model = small().fit(a)
    assert set(loaded) == set(a)                       # fit read the training images only
    book = model.codebook_.copy()
    digest = model.codebook_digest_
    X = model.transform(b)
    assert X.shape == (3, 2 * K) and np.all(X >= 0)
    np.testing.assert_array_equal(model.codebook_, book)     # transforming B changes nothing
    assert model.codebook_digest_ == digest
    np.testing.assert_allclose(np.linalg.norm(book, axis=1), 1.0)
    # deterministic, and a different training set gives a different codebook
    np.testing.assert_array_equal(small().fit(a).codebook_, book)
    assert small().fit(a + b).codebook_digest_ != digest
    assert small(codebook="random").fit(a).codebook_digest_ != digest


def test_encodings_are_cached_by_codebook(image_sets, tmp_path):
    a, b = image_sets
    model = small(cache_dir=tmp_path).fit(a)
    X1 = model.transform(b)
    assert model.last_result_.computed == 3 and model.last_result_.cache_hits == 0
    X2 = model.transform(b)
    assert model.last_result_.cache_hits == 3 and model.last_result_.computed == 0
    np.testing.assert_array_equal(X1, X2)
    other = small(cache_dir=tmp_path, random_state=1).fit(a)
    other.transform(b)
    assert other.last_result_.computed == 3          # another codebook never reads these entries


def test_fitted_state_is_cached(image_sets, tmp_path, monkeypatch):
    a, b = image_sets
    first = small(cache_dir=tmp_path).fit(a)
    loaded: list[str] = []
    real = cornia_mod.load_image
    monkeypatch.setattr(cornia_mod, "load_image", lambda p: loaded.append(str(p)) or real(p))
    again = small(cache_dir=tmp_path).fit(a)
    assert loaded == []                                       # nothing re-learned
    np.testing.assert_array_equal(again.codebook_, first.codebook_)
    np.testing.assert_array_equal(again.whiten_matrix_, first.whiten_matrix_)
    assert again.codebook_digest_ == first.codebook_digest_
    small(cache_dir=tmp_path).fit(a[:3])                      # another training set is learned
    assert set(loaded) == set(a[:3])


def test_failures_and_bad_inputs(image_sets, tmp_path):
    a, b = image_sets
    bad = tmp_path / "cut.png"
    bad.write_bytes(open(b[0], "rb").read()[:150])
    model = small().fit(a + [str(bad)])
    assert str(bad) in model.failures_
    X = model.transform([b[1], str(bad)])
    assert np.all(np.isfinite(X[0])) and np.all(np.isnan(X[1]))
    assert str(bad) in model.failures_
    with pytest.raises(ImageError, match="smaller"):
        sample_patches(np.zeros((5, 20), np.uint8), 7)
    with pytest.raises(ImageError, match="constant"):
        sample_patches(np.full((20, 20, 3), 4, np.uint8), 7)
    with pytest.raises(ValueError, match="codebook"):
        small(codebook_size=10_000).fit(a)
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        small().transform(b)
