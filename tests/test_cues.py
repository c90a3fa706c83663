"""Quality cues: S3 (vs a literal transcription of s3_map.m), FISH (DWT vs PyWavelets), tone, colourfulness."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
import pywt

from features import cues
from features.brisque import to_gray_uint8
from features.extraction import get_extractor
from features.imageio import ImageError, load_image, rgb_to_gray


# ---------------------------------------------------------------- literal s3_map.m (loops, slow)
def _hanning(n):
    k = np.arange(1, n + 1)
    return 0.5 * (1 - np.cos(2 * np.pi * k / (n + 1)))


def _eo_polaraverage(data):
    data = data.copy()
    n = data.shape[0]
    data[0, 0] = (data[1, 0] + data[0, 1]) / 2
    s = np.zeros(n // 2 + 1)
    for r in range(1, n // 2 + 1):
        zs = 0.0
        for ith in range(360):
            th = ith / 360
            x, y = r * np.sin(th * 2 * np.pi), r * np.cos(th * 2 * np.pi)
            x1, x2 = np.sign(x) * np.floor(abs(x)), np.sign(x) * np.ceil(abs(x))
            y1, y2 = np.sign(y) * np.floor(abs(y)), np.sign(y) * np.ceil(abs(y))
            ex, ey = abs(x - x1), abs(y - y1)
            if x2 < 0:
                ex = abs(x - x2)
                x1 = n + x1 if x1 < 0 else x1
                x2 = n + x2
            if y2 < 0:
                ey = abs(y - y2)
                y1 = n + y1 if y1 < 0 else y1
                y2 = n + y2
            x1, x2, y1, y2 = int(x1), int(x2), int(y1), int(y2)
            f11, f12, f21, f22 = data[x1, y1], data[x1, y2], data[x2, y1], data[x2, y2]
            zs += (f21 - f11) * ex * (1 - ey) + (f12 - f11) * (1 - ex) * ey + (f22 - f11) * ex * ey + f11
        s[r] = zs / 360
    return np.linspace(0, 0.5, n // 2 + 1)[1:], s[1:]


def _block_active(blk):
    lum = (0.7656 + 0.0364 * blk) ** 2.2
    for r in range(0, 28, 4):
        for c in range(0, 28, 4):
            b = lum[r:r + 8, c:c + 8]
            m = b.mean()
            if m > 127.5:
                b = 255 - b
                m = b.mean()
            if m > 2 and b.max() - b.min() > 5 and b.std(ddof=1) / m > 0:
                return True
    return False


def _pad(img, p):
    img = np.hstack([img[:, :p][:, ::-1], img, img[:, -p - 1:][:, ::-1]])
    return np.vstack([img[:p][::-1], img, img[-p - 1:][::-1]])


def literal_s3_map(img):
    im = _pad(img, 16)
    rows, cols = im.shape
    s1 = np.full((rows, cols), -100.0)
    for r in range(17, rows - 16 + 1, 8):              # 1-based block centres, as the release
        for c in range(17, cols - 16 + 1, 8):
            blk = im[r - 17:r + 15, c - 17:c + 15]
            v = 0.0
            if _block_active(blk):
                f, s = _eo_polaraverage(np.abs(np.fft.fft2(blk * np.outer(_hanning(32), _hanning(32)))))
                v = 1 - 1 / (1 + np.exp(-3 * (-np.polyfit(np.log(f), np.log(s), 1)[0] - 2)))
            s1[r - 5:r + 3, c - 5:c + 3] = v
    s1 = s1[16:-17, 16:-17]
    s2 = []
    for p in (8, 4):
        im = _pad(img, p)
        rows, cols = im.shape
        res = np.zeros((rows, cols))
        for r in range(5, rows - 4 + 1, 8):
            for c in range(5, cols - 4 + 1, 8):
                g = im[r - 5:r + 3, c - 5:c + 3]
                tv = [(abs(g[i, j] - g[i, j + 1]) + abs(g[i, j] - g[i + 1, j]) + abs(g[i, j] - g[i + 1, j + 1])
                       + abs(g[i + 1, j + 1] - g[i + 1, j]) + abs(g[i + 1, j] - g[i, j + 1])
                       + abs(g[i + 1, j + 1] - g[i, j + 1])) / 255 for i in range(7) for j in range(7)]
                res[r - 5:r + 3, c - 5:c + 3] = max(tv) / 4
        s2.append(res[p:-p - 1, p:-p - 1])
    s1[s1 < -99] = 0
    s2 = np.maximum(*s2)
    return s1, s2, s1 ** 0.5 * s2 ** 0.5


def _s3_test_image():
    rng = np.random.default_rng(0)
    img = np.round(rng.random((37, 44)) * 255)
    img[:, :22] = 80.0                                   # a flat half: inactive spectral blocks
    img[:12, 30:] = np.round(np.linspace(0, 255, 14))    # a ramp
    return img


def test_s3_maps_match_literal_release_loops(monkeypatch):
    """In double precision the batched maps are the release's loops to rounding."""
    monkeypatch.setattr(cues, "SPECTRAL_DTYPE", np.float64)
    cues._polar_average_dense.cache_clear()
    img = _s3_test_image()
    ref = literal_s3_map(img)
    try:
        got = cues.s3_maps(img.astype(np.uint8))
        got_float = cues.s3_maps(img / 255.0)            # a float grey image takes the float path
    finally:
        cues._polar_average_dense.cache_clear()
    for r, g, gf in zip(ref, got, got_float):
        np.testing.assert_allclose(g, r, atol=1e-12)
        np.testing.assert_allclose(gf, r, atol=1e-12)
    assert (ref[0] == 0).any() and (ref[0] > 0).any()   # both kinds of block occur


def test_s3_single_precision_spectra_stay_within_1e_6(calibration_pairs):
    """The default float32 block spectra move the S1 map by < 1e-6 and the S3 index by < 1e-7."""
    assert cues.SPECTRAL_DTYPE == np.float32
    img = _s3_test_image()
    ref = literal_s3_map(img)
    for r, g in zip(ref, cues.s3_maps(img.astype(np.uint8))):
        np.testing.assert_allclose(g, r, atol=1e-6)
    root, _ = calibration_pairs
    photo = load_image(root / "dist_dir" / "I19.bmp")
    got = cues.s3_sharpness(photo)
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(cues, "SPECTRAL_DTYPE", np.float64)
        cues._polar_average_dense.cache_clear()
        want = cues.s3_sharpness(photo)
    cues._polar_average_dense.cache_clear()
    assert got == pytest.approx(want, abs=1e-7)


def test_s3_properties(astronaut_small):
    s1, s2, s3 = cues.s3_maps(astronaut_small)
    assert s3.shape == astronaut_small.shape[:2]
    assert 0 <= s3.min() and s3.max() <= 1
    values = [cues.s3_sharpness(cv2.GaussianBlur(astronaut_small, (0, 0), s) if s else astronaut_small)
              for s in (0, 0.8, 1.6, 3.2)]
    assert all(a > b for a, b in zip(values, values[1:])), values
    top = np.sort(s3.ravel())[::-1][:s3.size // 100].mean()
    assert cues.s3_sharpness(astronaut_small) == pytest.approx(top)


# ---------------------------------------------------------------- FISH
@pytest.mark.parametrize("shape", [(64, 48), (40, 56)])
def test_cdf97_lifting_equals_pywavelets_bior44(shape):
    """One level of dwt_cdf97.m's lifting scheme = PyWavelets 'bior4.4' (CDF 9/7) with whole-sample
    symmetric ('reflect') extension, up to the alignment offset of 2 and the sign of the high band."""
    x = np.random.default_rng(1).random(shape) * 255
    lvl1 = cues.dwt_cdf97(x, 1)
    a, (h, v, d) = pywt.dwt2(x, "bior4.4", mode="reflect")
    m1, m2 = shape[0] // 2, shape[1] // 2
    cut = (slice(2, 2 + m1), slice(2, 2 + m2))
    np.testing.assert_allclose(lvl1[:m1, :m2], a[cut], atol=1e-9)          # LL
    np.testing.assert_allclose(lvl1[m1:, :m2], -h[cut], atol=1e-9)         # high along rows
    np.testing.assert_allclose(lvl1[:m1, m2:], -v[cut], atol=1e-9)         # high along columns
    np.testing.assert_allclose(lvl1[m1:, m2:], d[cut], atol=1e-9)          # HH


def test_cdf97_odd_length_differs_only_at_the_right_edge():
    # dwt_cdf97.m extrapolates an extra sample for odd lengths; PyWavelets mirrors: interior identical
    x = np.random.default_rng(2).random((33, 8)) * 255
    lo = cues.dwt_cdf97(x, 1)[:17, :4]
    a = pywt.dwt2(x, "bior4.4", mode="reflect")[0][2:19, 2:6]
    np.testing.assert_allclose(lo[:-3], a[:-3], atol=1e-9)
    assert np.abs(lo[-1] - a[-1]).max() > 1e-3


def test_fish_formula_and_levels(astronaut_small):
    gray = to_gray_uint8(astronaut_small)
    coeffs = cues.dwt_cdf97(gray, 3)
    # the in-place (Mallat) layout: levels 2-3 are the 2-level transform of the level-1 LL band
    lvl1 = cues.dwt_cdf97(gray, 1)
    np.testing.assert_allclose(coeffs[:64, :64], cues.dwt_cdf97(lvl1[:64, :64], 2), atol=1e-9)
    np.testing.assert_array_equal(coeffs[64:], lvl1[64:])
    total = 0.0
    for n in (1, 2, 3):
        k = 2 ** n
        s = 128 // k
        lh, hl, hh = coeffs[:s, s:2 * s], coeffs[s:2 * s, :s], coeffs[s:2 * s, s:2 * s]
        e = [np.log10(1 + np.mean(b ** 2)) for b in (lh, hl, hh)]
        total += 2 ** (3 - n) * (0.8 * e[2] + 0.2 * (e[0] + e[1]) / 2)
    assert cues.fish_sharpness(astronaut_small) == pytest.approx(total, rel=1e-12)


def test_fish_and_fish_bb_fall_with_blur(astronaut_small):
    blurred = [astronaut_small] + [cv2.GaussianBlur(astronaut_small, (0, 0), s) for s in (1.0, 2.0, 4.0)]
    fish = [cues.fish_sharpness(b) for b in blurred]
    bb = [cues.fish_bb_sharpness(b) for b in blurred]
    assert all(a > b for a, b in zip(fish, fish[1:])), fish
    assert all(a > b for a, b in zip(bb, bb[1:])), bb
    res, fmap = cues.fish_bb_sharpness(astronaut_small, return_map=True)
    assert fmap.shape == (128 // 8 - 1, 128 // 8 - 1)
    top = np.sort(fmap.ravel())[::-1][:max(1, fmap.size // 100)]
    assert res == pytest.approx(np.sqrt(np.mean(top ** 2)))


# ---------------------------------------------------------------- tone, colourfulness
def test_tone_percentiles_by_hand():
    ramp = np.arange(100, dtype=np.uint8).reshape(10, 10)           # grey values 0..99
    t = cues.tone(ramp)
    # MATLAB prctile: sorted value i is the 100 (i - 0.5) / n percentile -> p5 = 4.5, p95 = 94.5
    assert (t.p5, t.p95, t.range) == pytest.approx((4.5, 94.5, 90.0))
    rgb = np.random.default_rng(3).integers(0, 256, (20, 30, 3), dtype=np.uint8)
    y = rgb_to_gray(rgb)
    assert cues.tone(rgb).p5 == pytest.approx(np.percentile(y, 5, method="hazen"))


def test_colourfulness_by_hand():
    red = np.zeros((8, 8, 3), np.uint8)
    red[..., 0] = 255
    # rg = 255, yb = 127.5 everywhere: sigma = 0, mu = sqrt(255^2 + 127.5^2)
    assert cues.colourfulness(red) == pytest.approx(0.3 * np.hypot(255, 127.5))
    assert cues.colourfulness(np.full((8, 8), 77, np.uint8)) == 0.0
    half = np.zeros((2, 2, 3), np.uint8)
    half[0, :, 0] = 200                                              # rg in {200, 0}, yb in {100, 0}
    assert cues.colourfulness(half) == pytest.approx(np.hypot(100, 50) + 0.3 * np.hypot(100, 50))


# ---------------------------------------------------------------- extractor
def test_extract_order_and_registration(astronaut_small):
    v = cues.extract(astronaut_small)
    assert v.shape == (5,) and cues.FEATURE_NAMES == ("s3", "fish", "tone_p5", "tone_p95", "colourfulness")
    t = cues.tone(astronaut_small)
    np.testing.assert_allclose(v, [cues.s3_sharpness(astronaut_small), cues.fish_sharpness(astronaut_small),
                                   t.p5, t.p95, cues.colourfulness(astronaut_small)])
    np.testing.assert_array_equal(get_extractor("cues")(astronaut_small), v)


def test_bad_and_unusual_inputs(astronaut_small):
    with pytest.raises(ImageError, match="constant"):
        cues.extract(np.full((64, 64, 3), 10, np.uint8))
    with pytest.raises(ImageError, match="smaller"):
        cues.s3_sharpness(np.random.default_rng(0).integers(0, 255, (20, 64), dtype=np.uint8))
    with pytest.raises(ImageError, match="smaller"):
        cues.fish_sharpness(np.random.default_rng(0).integers(0, 255, (64, 12), dtype=np.uint8))
    rgba = np.dstack([astronaut_small, np.zeros(astronaut_small.shape[:2], np.uint8)])
    np.testing.assert_array_equal(cues.extract(rgba), cues.extract(astronaut_small))
    np.testing.assert_array_equal(cues.extract(astronaut_small.astype(np.uint16) * 257),
                                  cues.extract(astronaut_small))
