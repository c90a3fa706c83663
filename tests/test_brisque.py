"""BRISQUE: conventions, hand-checkable GGD/AGGD fits, and OpenCV contrib's C++ features as reference.

OpenCV's ``cv2.quality.QualityBRISQUE_computeFeatures`` is an independent C++ port with its
own conventions (replicated border, zero-filled shifts, AGGD fit of the MSCN field with
``(sl^2 + sr^2)/2`` as variance, ``cv2.resize`` INTER_CUBIC without antialiasing, float32).
Rebuilt from our building blocks with those conventions it must agree to float32 precision;
our MATLAB-convention features then differ from it by the pinned, explained amounts.
"""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from scipy.special import gamma

from features import brisque as B
from features.extraction import get_extractor
from features.imageio import ImageError, load_image
from features.matlab import imresize

SHAPE_IDX = [0, 2, 6, 10, 14, 18, 20, 24, 28, 32]      # grid-valued shape parameters


def opencv_convention_features(gray: np.ndarray, resize: str = "cv2") -> np.ndarray:
    """OpenCV contrib's BRISQUE built from our blocks (its conventions, float64)."""
    feats: list[float] = []
    for s in range(2):
        if s == 0:
            x = gray
        elif resize == "cv2":
            x = cv2.resize(gray.astype(np.float32) / 255, (gray.shape[1] // 2, gray.shape[0] // 2),
                           interpolation=cv2.INTER_CUBIC).astype(np.float64) * 255
        else:
            x = imresize(gray, 0.5)
        m = B.mscn(x, boundary="replicate")
        nu, _, lvar, rvar = B.fit_aggd(m)
        feats += [nu, (lvar + rvar) / 2]
        h, w = m.shape
        for dy, dx in B.SHIFTS.values():        # shifted(i, j) = m(i + dy, j + dx), zero outside
            sh = np.zeros_like(m)
            sh[max(0, -dy):h - max(0, dy), max(0, -dx):w - max(0, dx)] = \
                m[max(0, dy):h - max(0, -dy), max(0, dx):w - max(0, -dx)]
            feats += list(B.fit_aggd(m * sh))
    return np.asarray(feats)


def opencv_features(gray: np.ndarray) -> np.ndarray:
    return cv2.quality.QualityBRISQUE_computeFeatures(gray.astype(np.uint8)).ravel().astype(np.float64)


def test_length_determinism_and_registration(astronaut_small):
    f = B.extract(astronaut_small)
    assert f.shape == (36,) and f.dtype == np.float64 and np.all(np.isfinite(f))
    np.testing.assert_array_equal(f, B.extract(astronaut_small.copy()))
    ext = get_extractor("brisque")
    np.testing.assert_array_equal(ext(astronaut_small), f)
    assert len(B.FEATURE_NAMES) == 36


def test_grey_conventions(astronaut_small):
    rgb = astronaut_small
    gray = B.to_gray_uint8(rgb)
    # MATLAB rgb2gray on uint8 rounds: the grey is integer-valued
    np.testing.assert_array_equal(gray, np.round(gray))
    np.testing.assert_array_equal(B.extract(rgb), B.extract(gray))
    np.testing.assert_array_equal(B.extract(gray.astype(np.uint8)), B.extract(np.dstack([gray.astype(np.uint8)] * 3)))
    # RGBA: alpha dropped; 16-bit: v / 257
    rgba = np.dstack([rgb, np.full(rgb.shape[:2], 17, np.uint8)])
    np.testing.assert_array_equal(B.extract(rgba), B.extract(rgb))
    np.testing.assert_array_equal(B.extract(rgb.astype(np.uint16) * 257), B.extract(rgb))


def test_bad_inputs():
    with pytest.raises(ImageError, match="constant"):
        B.extract(np.full((64, 64, 3), 90, np.uint8))
    with pytest.raises(ImageError, match="smaller"):
        B.extract(np.random.default_rng(0).integers(0, 255, (6, 6), dtype=np.uint8))
    with pytest.raises(ImageError, match="smaller"):                    # 7x7 window at the half scale
        B.extract(np.random.default_rng(0).integers(0, 255, (12, 40), dtype=np.uint8))


def test_bad_file_is_named(tmp_path, astronaut_small):
    from PIL import Image

    p = tmp_path / "cut.png"
    Image.fromarray(astronaut_small).save(p)
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ImageError) as err:
        get_extractor("brisque")(load_image(p), source=p)
    assert str(p) in str(err.value)


def test_ggd_fit_on_known_distributions():
    rng = np.random.default_rng(0)
    alpha, var = B.fit_ggd(rng.standard_normal(400_000) * 1.5)
    assert alpha == pytest.approx(2.0, abs=0.03) and var == pytest.approx(2.25, rel=0.01)
    alpha, _ = B.fit_ggd(rng.laplace(size=400_000))
    assert alpha == pytest.approx(1.0, abs=0.02)


def test_aggd_fit_on_two_sided_gaussian():
    # AGGD with nu = 2, left/right std 1 and 2: P(x < 0) = sl / (sl + sr); eta = (sr - sl) sqrt(2 / pi)
    rng = np.random.default_rng(1)
    n = 400_000
    left = rng.random(n) < 1 / 3
    x = np.where(left, -np.abs(rng.standard_normal(n)), 2 * np.abs(rng.standard_normal(n)))
    nu, eta, lvar, rvar = B.fit_aggd(x)
    assert nu == pytest.approx(2.0, abs=0.05)
    assert lvar == pytest.approx(1.0, rel=0.01) and rvar == pytest.approx(4.0, rel=0.01)
    assert eta == pytest.approx(np.sqrt(2 / np.pi), rel=0.03)
    # the release's mean formula: (sr - sl) Gamma(2/nu) / Gamma(1/nu) * sqrt(Gamma(1/nu) / Gamma(3/nu))
    expect = (np.sqrt(rvar) - np.sqrt(lvar)) * gamma(2 / nu) / gamma(1 / nu) * np.sqrt(gamma(1 / nu) / gamma(3 / nu))
    assert eta == pytest.approx(expect, rel=1e-12)


def test_mscn_is_matlab_filter2_zero_padding():
    img = np.random.default_rng(3).random((20, 24)) * 255
    w = np.outer(B.gaussian_window(), B.gaussian_window())
    from scipy.signal import correlate2d

    mu_ref = correlate2d(img, w, mode="same", boundary="fill")
    mu, sigma = B.local_mean_std(img)
    np.testing.assert_allclose(mu, mu_ref, rtol=1e-12, atol=1e-9)
    sig_ref = np.sqrt(np.abs(correlate2d(img * img, w, mode="same") - mu_ref ** 2))
    np.testing.assert_allclose(sigma, sig_ref, rtol=1e-9, atol=1e-6)


def test_building_blocks_reproduce_opencv(astronaut_small):
    """With OpenCV's conventions our blocks give OpenCV's C++ features (float32 precision)."""
    gray = B.to_gray_uint8(astronaut_small)
    ref = opencv_features(gray)
    ours = opencv_convention_features(gray)
    shape = np.zeros(36, bool)
    shape[SHAPE_IDX] = True
    np.testing.assert_allclose(ours[shape], ref[shape], atol=1e-5)         # identical grid points
    np.testing.assert_allclose(ours[~shape], ref[~shape], rtol=1e-3, atol=1e-5)


@pytest.mark.parametrize("name", ["ref_dir/I04", "ref_dir/I08", "ref_dir/I19"])
def test_matlab_convention_vs_opencv_per_feature(shared, name):
    """Pinned differences of our (MATLAB) features from OpenCV's on 512x384 photos.

    Scale 1 (features 0-17): only border handling (zero padding vs replicate, wrap vs zero fill)
    and the GGD-vs-AGGD fit of the MSCN field differ: shapes within 0.05, others within 8 %
    (measured: 0.027 and 5 %).  Scale 2 (18-35): dominated by the resize (OpenCV: bicubic
    a = -0.75, no antialiasing) -- far apart; putting MATLAB imresize into the OpenCV variant
    closes most of the gap (residual <= 25 %, measured 19 %: the same border effects on a half-size image).
    Images with flat regions are avoided: there OpenCV's float32 ``E[x^2] - mu^2`` cancels to
    negative variances (NaN MSCN), not a convention.
    """
    gray = B.to_gray_uint8(load_image(shared("data", "calibration", f"{name}.bmp")))
    assert gray.shape == (384, 512)
    ours = B.extract(gray)
    ref = opencv_features(gray)
    np.testing.assert_allclose(opencv_convention_features(gray), ref, rtol=1e-3, atol=1e-5)
    rel = np.abs(ours - ref) / (np.abs(ref) + 1e-2)
    s1_shape = [i for i in SHAPE_IDX if i < 18]
    s1_other = [i for i in range(18) if i not in SHAPE_IDX]
    assert np.abs(ours - ref)[s1_shape].max() < 0.05
    assert rel[s1_other].max() < 0.08
    assert rel[18:].max() > 0.5                                   # the resize matters
    with_imresize = opencv_convention_features(gray, resize="imresize")
    rel2 = np.abs(ours - with_imresize) / (np.abs(with_imresize) + 1e-2)
    assert rel2[18:].max() < 0.25
    assert rel2[18:].mean() < 0.3 * rel[18:].mean()


def test_half_scale_uses_matlab_imresize(astronaut_small):
    gray = B.to_gray_uint8(astronaut_small)
    f = B.extract(gray)
    np.testing.assert_array_equal(f[18:], B.brisque_features(imresize(gray, 0.5), scales=1))


def _reference_scale_features(gray: np.ndarray) -> list[float]:
    """One scale from the public building blocks, whole arrays (the release's steps one by one)."""
    m = B.mscn(gray)
    feats = list(B.fit_ggd(m))
    for prod in B.paired_products(m).values():
        feats += list(B.fit_aggd(prod))
    return feats


@pytest.mark.parametrize("strip", [B._STRIP_ELEMENTS, 100])
def test_fused_strip_pass_equals_building_blocks(astronaut_small, monkeypatch, strip):
    """The one-pass strip computation (MSCN, then the paired products of the rows whose
    neighbours are ready, the wrapped first/last rows at the end) equals whole-array blocks."""
    monkeypatch.setattr(B, "_STRIP_ELEMENTS", strip)                # 100: an 8-row strip at a time
    rng = np.random.default_rng(5)
    flat = B.to_gray_uint8(astronaut_small)
    flat[:40, :50] = 255.0                                          # saturated: exact zeros in the MSCN field
    images = [B.to_gray_uint8(astronaut_small), flat, rng.integers(0, 256, (23, 31)).astype(float),
              rng.integers(0, 256, (14, 17)).astype(float)]
    for img in images:
        want = _reference_scale_features(img)
        got = B._scale_features(img)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-15)
    assert np.count_nonzero(B.mscn(flat) == 0) > 0                  # the zero-count path was taken
