"""BLIINDS-II features (features.bliinds2): building blocks against hand computations, conventions,
errors and the direction of the features under blur / noise."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.fft import idctn
from scipy.stats import gennorm

from features import bliinds2 as B
from features._ggd import ggd_ratio
from features.extraction import get_extractor
from features.imageio import ImageError, load_image, rgb_to_gray


@pytest.fixture
def calib_crop(shared):
    """A 128 x 128 crop of a TID2013 reference photo (skips without ../shared)."""
    img = load_image(shared("data", "calibration", "ref_dir", "I06.bmp"))
    return img[100:228, 200:328]


def _blur(img: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    from skimage.filters import gaussian

    return (gaussian(img, sigma, channel_axis=-1, preserve_range=True)).round().astype(np.uint8)


# ----------------------------------------------------------------------------- building blocks
def test_coefficient_of_variation_hand_array():
    x = np.array([1.0, -1.0, 2.0, -2.0])            # |x| = 1,1,2,2: mean 1.5, sample std sqrt(1/3)
    assert B.coefficient_of_variation(x) == pytest.approx(np.sqrt(1 / 3) / (1.5 + 1e-7), rel=1e-12)


@pytest.mark.parametrize("beta", [1.0, 2.0])
def test_zeta_matches_ggd_closed_form(beta):
    # paper: zeta = sigma_|X| / mu_|X| = sqrt(r(gamma) - 1) for a GGD (1 for Laplace, 0.7555 for Gauss)
    x = gennorm.rvs(beta, size=200_000, random_state=5)
    assert B.coefficient_of_variation(x) == pytest.approx(np.sqrt(ggd_ratio(beta) - 1), rel=0.01)


def test_constant_block_features():
    c = np.zeros((B.BLOCK, B.BLOCK))
    c[0, 0] = 40.0                                    # DC only: every AC statistic degenerates
    f = B.block_features(c)
    assert f["zeta"] == 0.0
    assert f["gamma"] == 11.0                         # release fallback of gama_gen_gauss
    assert f["energy"] == 0.0
    assert f["orient"] == 0.0


def test_energy_ratio_hand_computed():
    c = np.zeros((5, 5))
    c[B._BAND3] = [1, 2, 3, 4, 5, 6]                  # sample variance 3.5
    c[B._BAND1] = [0, 0, 0, 0, 1]                     # sample variance 0.2; band 2 stays 0
    e1, e2, e3 = 0.2, 0.0, 3.5
    r1 = abs(e3 - (e1 + e2) / 2) / (e3 + (e1 + e2) / 2 + 1e-8)
    r2 = abs(e2 - e1) / (e3 + e1 + 1e-8)              # release: denominator E3 + E1
    assert B.block_features(c)["energy"] == pytest.approx((r1 + r2) / 2, rel=1e-12)
    assert B._BAND1.sum() + B._BAND2.sum() + B._BAND3.sum() == 24
    assert not (B._BAND1 & B._BAND2).any() and not (B._BAND2 & B._BAND3).any()


def test_orientation_variance_hand_computed():
    c = np.ones((5, 5))
    idx = np.argwhere(B._ORI3)[0]
    c[tuple(idx)] = 3.0                               # region 3: |x| = seven 1s and a 3
    z3 = np.sqrt(0.5) / (1.25 + 1e-7)                 # sample std sqrt(0.5), mean 1.25
    assert B.block_features(c)["orient"] == pytest.approx(z3 ** 2 / 3, rel=1e-9)   # var([0, 0, z3])
    assert B._ORI1.sum() == B._ORI2.sum() == B._ORI3.sum() == 8


def test_block_layout_is_blkproc_with_zero_border():
    img = np.arange(7 * 8, dtype=float).reshape(7, 8) + 1
    coeffs = B.block_dct(img)
    assert coeffs.shape == (3, 3, 5, 5)               # ceil(7/3) x ceil(8/3) blocks of 5 x 5
    padded = np.zeros((7 + 2 + 2, 8 + 2 + 1))
    padded[1:8, 1:9] = img
    for i in range(3):
        for j in range(3):
            np.testing.assert_allclose(idctn(coeffs[i, j], norm="ortho"),
                                       padded[3 * i:3 * i + 5, 3 * j:3 * j + 5], atol=1e-9)
    # orthonormal DCT (MATLAB dct2): constant block v -> DC = 5 v, no AC
    c = B.block_dct(np.full((9, 9), 2.0))[1, 1]       # interior block: all 25 pixels are 2
    assert c[0, 0] == pytest.approx(10.0) and np.abs(c.ravel()[1:]).max() < 1e-12


def test_pooling():
    v = np.arange(1.0, 21.0)
    assert B.pool(v) == (10.5, 19.5)                  # top ceil(20/10) = 2 values
    assert B.pool(v, lowest=True) == (10.5, 1.5)
    assert B.pool(np.arange(1.0, 22.0))[1] == pytest.approx(20.0)   # ceil(21/10) = 3: 21, 20, 19


def test_downsample_geometry_and_zero_boundary():
    out = B.downsample(np.ones((10, 9)))
    assert out.shape == (5, 4)
    assert out[0, 0] == pytest.approx(1.0)            # input (1, 1): window inside the image
    a, b = np.exp(-2.0), 1.0                          # 1-D fspecial('gaussian',3) taps a, b, a
    edge = (a + b) / (2 * a + b)
    assert out[-1, 0] == pytest.approx(edge)          # input (9, 1): last row, one tap outside
    assert out[-1, -1] == pytest.approx(1.0 * edge)   # input (9, 7): column 8 exists


# ------------------------------------------------------------------------------- whole vector
def test_length_names_determinism(astronaut_small):
    f = B.extract(astronaut_small)
    assert f.shape == (24,) and f.dtype == np.float64 and len(B.FEATURE_NAMES) == 24
    assert np.all(np.isfinite(f))
    np.testing.assert_array_equal(f, B.extract(astronaut_small.copy()))
    # gamma pooled "lowest 10 %" below its mean, the others' "highest 10 %" above theirs
    for s in range(3):
        z, zt, g, gl, e, et, o, ot = f[8 * s:8 * s + 8]
        assert zt >= z and gl <= g and et >= e and ot >= o


def test_finite_on_calibration_photo(calib_crop):
    f = B.extract(calib_crop)
    assert f.shape == (24,) and np.all(np.isfinite(f))


def test_registered_extractor(astronaut_small):
    ext = get_extractor("bliinds2")
    assert ext.version == B.VERSION == "3" and "Saad" in ext.paper
    np.testing.assert_array_equal(ext(astronaut_small), B.extract(astronaut_small))


def test_grey_rgba_uint16_conventions(astronaut_small):
    f = B.extract(astronaut_small)
    np.testing.assert_array_equal(B.extract(rgb_to_gray(astronaut_small)), f)
    rgba = np.concatenate([astronaut_small, np.full(astronaut_small.shape[:2] + (1,), 7, np.uint8)], -1)
    np.testing.assert_array_equal(B.extract(rgba), f)
    np.testing.assert_array_equal(B.extract(astronaut_small.astype(np.uint16) * 257), f)


def test_contrast_scaling_invariance(astronaut_small):
    # every feature is a ratio of DCT statistics, so scaling the grey levels leaves it unchanged
    # (up to the 1e-7 / 1e-8 guards and grid cells of gamma)
    g = rgb_to_gray(astronaut_small)
    f, f2 = B.extract(g), B.extract(0.5 * g)
    gam = np.array(["gamma" in n for n in B.FEATURE_NAMES])
    np.testing.assert_allclose(f2[~gam], f[~gam], rtol=2e-4)
    np.testing.assert_allclose(f2[gam], f[gam], atol=2e-3)     # a few blocks move by one 0.001 cell


def test_errors_constant_and_small():
    with pytest.raises(ImageError, match="constant"):
        B.extract(np.full((64, 64, 3), 128, np.uint8))
    with pytest.raises(ImageError, match="smaller"):
        B.extract(np.random.default_rng(0).integers(0, 256, (19, 64, 3), dtype=np.uint8))
    f = B.extract(np.random.default_rng(0).integers(0, 256, (20, 20), dtype=np.uint8))
    assert np.all(np.isfinite(f))


def test_blur_and_noise_move_features_as_expected(astronaut_small, calib_crop):
    # blur removes high frequencies: DCT coefficients get peakier (zeta up, gamma down) and the
    # energy in the highest band falls relative to the lower ones (energy ratio up)
    names = list(B.FEATURE_NAMES)
    z, g, e = names.index("s1_zeta_mean"), names.index("s1_gamma_mean"), names.index("s1_energy_mean")
    for img in (astronaut_small, calib_crop):
        f, fb = B.extract(img), B.extract(_blur(img))
        assert fb[z] > f[z] + 0.2 and fb[e] > f[e] + 0.05 and fb[g] < f[g]
        noisy = np.clip(img + np.random.default_rng(0).normal(0, 15, img.shape), 0, 255).astype(np.uint8)
        fn = B.extract(noisy)
        # white noise makes blocks Gaussian: zeta -> sqrt(pi/2 - 1) ~ 0.76, flatter spectrum
        assert fn[z] < f[z] and fn[e] < f[e]


# ------------------------------------------------------ literal per-block transcription check
def _literal_bliinds2(img: np.ndarray) -> np.ndarray:
    """Slow per-block transcription of the release (blkproc loop, gama_gen_gauss scan, ...)."""
    from scipy.fft import dctn
    from scipy.ndimage import correlate
    from scipy.special import gamma as G

    g = 0.03 + 0.001 * np.arange(9971)
    r = G(1 / g) * G(3 / g) / G(2 / g) ** 2

    def gama(v):
        rho = v.var(ddof=1) / (np.mean(np.abs(v - v.mean())) ** 2 + 1e-7)
        for j in range(len(g) - 1):
            if r[j] >= rho > r[j + 1]:
                return g[j]
        return 11.0

    def zeta(v):
        a = np.abs(v)
        return a.std(ddof=1) / (a.mean() + 1e-7)

    f1 = np.array([[0, 1, 1, 1, 1], [0, 0, 1, 1, 1], [0, 0, 0, 0, 1], [0, 0, 0, 0, 0], [0, 0, 0, 0, 0]]) > 0
    f2 = np.array([[0, 0, 0, 0, 0], [0, 1, 0, 0, 0], [0, 0, 1, 1, 0], [0, 0, 1, 1, 1], [0, 0, 0, 1, 1]]) > 0

    def energy(c):
        A = lambda i, j: c[i - 1, j - 1]
        v1 = np.var([A(1, 2), A(2, 1), A(1, 3), A(3, 1), A(2, 2)], ddof=1)
        v2 = np.var([A(4, 1), A(5, 1), A(3, 2), A(4, 2), A(5, 2), A(2, 3), A(3, 3), A(4, 3), A(1, 4),
                     A(2, 4), A(3, 4), A(1, 5), A(2, 5)], ddof=1)
        v3 = np.var([A(3, 5), A(4, 4), A(5, 3), A(4, 5), A(5, 4), A(5, 5)], ddof=1)
        m = (v1 + v2) / 2
        return (abs(v3 - m) / (v3 + m + 1e-8) + abs(v2 - v1) / (v3 + v1 + 1e-8)) / 2

    def per_block(fun, im):
        m, n = im.shape
        aa = np.zeros((m + (-m) % 3 + 2, n + (-n) % 3 + 2))
        aa[1:1 + m, 1:1 + n] = im
        return np.array([[fun(dctn(aa[3 * i:3 * i + 5, 3 * k:3 * k + 5], norm="ortho"))
                          for k in range((n + 2) // 3)] for i in range((m + 2) // 3)])

    def pooled(v, desc=True):
        s = np.sort(v.ravel())[::-1] if desc else np.sort(v.ravel())
        return [s.mean(), s[:int(np.ceil(s.size / 10))].mean()]

    x = np.arange(-1, 2)
    h = np.exp(-(x[:, None] ** 2 + x[None] ** 2) / 0.5)
    h /= h.sum()
    out = []
    for s in range(3):
        if s:
            img = correlate(img, h, mode="constant")[1::2, 1::2]
        ac = lambda c: c.ravel(order="F")[1:]
        ori = np.var(np.stack([per_block(lambda c, m=m: zeta(c[m]), img) for m in (f1, f2, f1.T)]),
                     axis=0, ddof=1)
        out += pooled(per_block(lambda c: zeta(ac(c)), img)) + pooled(per_block(lambda c: gama(ac(c)), img), False)
        out += pooled(per_block(energy, img)) + pooled(ori)
    return np.array(out)


def test_vectorised_equals_literal_transcription(astronaut_small):
    odd = rgb_to_gray(astronaut_small)[30:80, 40:77]                # 50 x 37: padding on both sides
    np.testing.assert_allclose(B.extract(odd), _literal_bliinds2(odd), rtol=1e-12, atol=1e-12)


def test_chunked_blocks_give_the_same_features(astronaut_small, monkeypatch):
    f = B.extract(astronaut_small)
    monkeypatch.setattr(B, "_CHUNK_BLOCKS", 50)                    # one block row per batch
    # OpenBLAS picks its kernels by matrix width (small-matrix paths), so the DCT product of a
    # narrower batch may round differently: equal up to that rounding, not bit for bit
    np.testing.assert_allclose(B.extract(astronaut_small), f, rtol=1e-13, atol=0)
