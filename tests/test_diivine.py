"""DIIVINE features (features.diivine): pyramid, divisive normalisation, SSIM cs, spatial
correlation, the 88-vector's conventions and errors, and feature directions under blur / noise."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from features import diivine as D
from features.extraction import get_extractor
from features.imageio import ImageError, load_image, rgb_to_gray


@pytest.fixture
def calib_crop(shared):
    """A 128 x 128 crop of a TID2013 reference photo (skips without ../shared)."""
    img = load_image(shared("data", "calibration", "ref_dir", "I06.bmp"))
    return img[100:228, 200:328]


def _blur(img: np.ndarray, sigma: float = 1.5) -> np.ndarray:
    from skimage.filters import gaussian

    return gaussian(img, sigma, channel_axis=-1, preserve_range=True).round().astype(np.uint8)


def _noisy(img: np.ndarray, sd: float = 15.0) -> np.ndarray:
    return np.clip(img + np.random.default_rng(0).normal(0, sd, img.shape), 0, 255).astype(np.uint8)


# ------------------------------------------------------------------------------- pyramid
def test_pyramid_equals_pyrtools_for_even_sizes():
    pt = pytest.importorskip("pyrtools")
    im = np.random.default_rng(0).normal(100, 30, (64, 96))
    hp, bands = D.steerable_pyramid_freq(im, height=2, order=5)
    ref = pt.pyramids.SteerablePyramidFreq(im, height=2, order=5)
    np.testing.assert_allclose(hp, ref.pyr_coeffs["residual_highpass"], atol=1e-9)
    for s in range(2):
        for o in range(6):
            np.testing.assert_allclose(bands[s][o], ref.pyr_coeffs[(s, o)], atol=1e-9)


@pytest.mark.parametrize("shape", [(64, 96), (65, 97)])
def test_pyramid_shapes_and_constant_image(shape):
    hp, bands = D.steerable_pyramid_freq(np.full(shape, 77.0))
    assert hp.shape == shape
    assert bands[0][0].shape == shape
    assert bands[1][0].shape == tuple(int(np.ceil((n - 0.5) / 2)) for n in shape)
    # DC sits at the origin of MATLAB's frequency ramp: nothing leaks into the band-passes
    assert max(np.abs(b).max() for level in bands for b in level) < 1e-9
    assert np.abs(hp).max() < 1e-9


def _complex_sfpyr(im, height, order):
    """buildSFpyr with complex transforms of the full spectrum (the masks of D._pyramid_masks)."""
    from scipy import fft

    hi0, lo0, levels = D._pyramid_masks(im.shape, height, order)
    phase = (-1j) ** order
    spectrum = fft.fft2(im)
    hp = fft.ifft2(spectrum * hi0).real
    lodft = np.fft.fftshift(spectrum) * lo0
    bands = []
    for masks, crop, lo in levels:
        lo_u = np.fft.ifftshift(lodft)
        bands.append([(phase * fft.ifft2(lo_u * m)).real for m in masks])
        lodft = lodft[crop] * lo
    return hp, bands


@pytest.mark.parametrize("shape", [(64, 96), (65, 97), (66, 98), (61, 60), (63, 131)])
@pytest.mark.parametrize("height, order", [(2, 5), (3, 3), (4, 0)])
def test_real_fft_pyramid_equals_complex_transforms(shape, height, order):
    """Half-spectrum inverse transforms (Hermitian part of each band's spectrum, next level
    gathered from the half spectrum, Nyquist columns of even widths included) equal the
    complex full-spectrum ones for odd and even sizes (width = 2 mod 4 too)."""
    im = np.random.default_rng(7).normal(100, 30, shape)
    hp, bands = D.steerable_pyramid_freq(im, height=height, order=order)
    hp_c, bands_c = _complex_sfpyr(im, height, order)
    scale = np.abs(hp_c).max()
    np.testing.assert_allclose(hp, hp_c, rtol=0, atol=1e-13 * scale)
    for lev, lev_c in zip(bands, bands_c, strict=True):
        for b, b_c in zip(lev, lev_c, strict=True):
            assert b.shape == b_c.shape and b.flags.c_contiguous
            np.testing.assert_allclose(b, b_c, rtol=0, atol=1e-13 * np.abs(b_c).max())


# -------------------------------------------------------------------------- normalisation
def test_parent_rule_of_release():
    assert D.parent_flags() == [True] * 5 + [False] * 7


def test_normalised_subbands_shapes_and_scale_equivariance():
    im = np.random.default_rng(1).normal(100, 30, (70, 90))
    _, bands = D.steerable_pyramid_freq(im)
    sub = D.normalise_subbands(bands)
    assert len(sub) == 12
    assert sub[0].shape == (70 - 2 - 32, 90 - 2 - 32)            # ring of 1 + guard band 16
    assert sub[6].shape == (35 - 2 - 16, 45 - 2 - 16)             # guard band 8 at scale 2
    assert all(abs(float(s.mean())) < 1e-12 for s in sub)
    # z = sqrt(y' C^-1 y / N) is invariant to a gain k, so normalised bands scale by k
    _, bands3 = D.steerable_pyramid_freq(3.0 * im)
    for a, b in zip(sub, D.normalise_subbands(bands3)):
        np.testing.assert_allclose(b, 3.0 * a, rtol=1e-7, atol=1e-9)


def _literal_norm_sender(bands):
    """Line-by-line transcription of norm_sender_normalized.m (column-major, circular shift, eig)."""
    from features.matlab import imresize

    pyr = [bands[s][o] for s in range(2) for o in range(6)]            # pyramid bands 2..13
    out = []
    for scale in (1, 2):
        for orien in range(1, 7):
            nband = (scale - 1) * 6 + orien + 1
            aux = pyr[nband - 2]
            nsy, nsx = aux.shape
            prnt = nband < 13 - 6
            nv, nh = nsy - 2, nsx - 2
            cols = [np.roll(aux, (ny, nx), axis=(0, 1))[1:1 + nv, 1:1 + nh].ravel(order="F")
                    for ny in (-1, 0, 1) for nx in (-1, 0, 1)]
            if prnt:
                up = imresize(pyr[nband + 6 - 2], 2.0)[:nsy, :nsx]
                cols.append(up[1:1 + nv, 1:1 + nh].ravel(order="F"))
            cols += [pyr[(scale - 1) * 6 + nb - 1][1:1 + nv, 1:1 + nh].ravel(order="F")
                     for nb in range(1, 7) if nb != orien]
            Y = np.stack(cols, 1)
            C = Y.T @ Y / Y.shape[0]
            L, Q = np.linalg.eig(C)
            L, Q = L.real, Q.real
            Lp = L * (L > 0)
            C = Q @ np.diag(Lp * L.sum() / (Lp.sum() + (Lp.sum() == 0))) @ Q.T
            oc = aux[1:1 + nv, 1:1 + nh].ravel(order="F")
            z = np.sqrt(((Y @ np.linalg.pinv(C)) * Y).sum(1) / (9 + prnt))
            g = ((oc - oc.mean()) / z).reshape((nv, nh), order="F")
            gb = 16 // 2 ** (scale - 1)
            g = g[gb:nv - gb, gb:nh - gb]
            out.append(g - g.mean())
    return out


@pytest.mark.parametrize("block_pixels", [D._BLOCK_PIXELS, 100])
def test_normalisation_equals_literal_transcription(astronaut_small, monkeypatch, block_pixels):
    # 100 pixels: blocks of one row (and a short last block) in both passes
    monkeypatch.setattr(D, "_BLOCK_PIXELS", block_pixels)
    _, bands = D.steerable_pyramid_freq(rgb_to_gray(astronaut_small)[:100, :91])
    for got, want in zip(D.normalise_subbands(bands), _literal_norm_sender(bands), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-9, atol=1e-9 * np.abs(want).max())


# ---------------------------------------------------------------------------------- SSIM cs
def test_ssim_cs_known_values():
    rng = np.random.default_rng(2)
    a = rng.normal(0, 1000, (40, 50))
    assert D.ssim_cs(a, a) == pytest.approx(1.0, abs=1e-12)
    assert D.ssim_cs(np.full((20, 20), 3.0), np.full((20, 20), -8.0)) == pytest.approx(1.0)
    # b = 2a: cs = (4 s^2 + C2) / (5 s^2 + C2) -> 0.8 when s^2 >> C2 = 58.5
    assert D.ssim_cs(a, 2 * a) == pytest.approx(0.8, abs=1e-4)
    assert D.ssim_cs(a, -a) == pytest.approx(-1.0, abs=1e-4)
    with pytest.raises(ValueError):
        D.ssim_cs(np.zeros((10, 30)), np.zeros((10, 30)))


def _at(offset: int, arr: np.ndarray) -> np.ndarray:
    """A copy of ``arr`` whose data start ``offset`` bytes past a 64-byte boundary."""
    buf = np.empty(arr.nbytes + 64 + offset, np.uint8)
    start = (-buf.ctypes.data) % 64 + offset
    out = buf[start:start + arr.nbytes].view(arr.dtype).reshape(arr.shape)
    out[...] = arr
    return out


def test_cs_does_not_depend_on_memory_alignment(shared, monkeypatch):
    # The mean of the cs map was cv2.sumElems of float32 data, whose result depends on the
    # data's alignment for some inputs (this pair: 1 ulp at 2 of the 16 float32 alignments), so
    # the cs features of one image differed between runs.
    from features.matlab import imresize

    grey = rgb_to_gray(load_image(shared("data", "calibration", "dist_dir", "I06.bmp")))
    hp, bands = D.steerable_pyramid_freq(grey)
    a = D._CsPlane(imresize(bands[1][2], 2.0, method="bicubic"), np.float32)
    b = D._CsPlane(hp, np.float32)
    values = set()
    for offset in range(0, 64, 4):       # the work arrays (so the cs map) at every float32 alignment
        monkeypatch.setattr(D, "scratch", lambda name, shape, dtype=np.float64, o=offset:
                            _at(o, np.zeros(shape, dtype)))
        values.add(D._cs_pair(a, b))
    assert len(values) == 1, values


# ---------------------------------------------------------------------- spatial correlation
def _brute_rho(x: np.ndarray, d: int) -> float:
    """Independent reference: quantise with numpy's histogram edges, list every neighbour pair."""
    edges = np.linspace(x.min(), x.max(), 101)
    idx = np.clip(np.digitize(x, edges) - 1, 0, 99)
    centres = (edges[:-1] + edges[1:]) / 2
    v = centres[idx]
    H, W = x.shape
    first, second = [], []
    for dy, dx in [(0, d), (0, -d), (d, 0), (-d, 0), (d, d), (d, -d), (-d, d), (-d, -d)]:
        for r in range(H):
            for c in range(W):
                if 0 <= r + dy < H and 0 <= c + dx < W:
                    first.append(v[r, c])
                    second.append(v[r + dy, c + dx])
    return float(np.corrcoef(first, second)[0, 1])


def test_spatial_correlation_against_brute_force():
    x = np.random.default_rng(3).normal(size=(30, 34)).cumsum(axis=1)      # correlated rows
    got = D.spatial_correlation(x, distances=(1, 5, 9))
    want = [_brute_rho(x, d) for d in (1, 5, 9)]
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_exact_float32_dot_at_the_worst_case():
    # centred bin indices of 100 bins lie in [-50, 49]: products up to 2500, chunks of 6710
    rng = np.random.default_rng(4)
    a = rng.choice([-50, 49, 50 - 1, -49], size=100_003).astype(np.float32)
    a[:20_000] = -50                                     # a long run of maximal products
    b = np.roll(a, 7)
    chunk = (1 << 24) // 50 ** 2
    assert D._exact_dot32(a, b, chunk) == int(np.dot(a.astype(np.int64), b.astype(np.int64)))
    assert D._exact_dot32(a, a, chunk) == int(np.dot(a.astype(np.int64), a.astype(np.int64)))


def test_spatial_correlation_checkerboard():
    # (r + c) % 2: odd offsets flip the value horizontally/vertically, keep it diagonally
    r, c = np.mgrid[0:40, 0:40]
    x = ((r + c) % 2).astype(float)
    H = W = 40
    d = 1
    same = 4 * (H - d) * (W - d)
    flip = 2 * H * (W - d) + 2 * (H - d) * W
    # balanced board with symmetric pair lists: correlation of +-1 values = (same - flip) / total
    assert D.spatial_correlation(x, distances=(d,))[0] == pytest.approx((same - flip) / (same + flip), abs=1e-12)


def test_spatial_features_are_cubic_fit():
    x = np.random.default_rng(4).normal(size=(60, 60)).cumsum(axis=0)
    p3, p2, p1, p0, err = D.spatial_correlation_features(x)
    rho = D.spatial_correlation(x)
    d = np.arange(1, 26, 4.0)
    fit = ((p3 * d + p2) * d + p1) * d + p0
    assert err == pytest.approx(float(np.sum((fit - rho) ** 2)), rel=1e-9)
    assert np.sum((fit - rho) ** 2) <= np.sum((np.polyval(np.polyfit(d, rho, 2), d) - rho) ** 2) + 1e-15


# ----------------------------------------------------------------------------- whole vector
def test_length_names_determinism(astronaut_small):
    f = D.extract(astronaut_small)
    assert f.shape == (88,) and f.dtype == np.float64 and np.all(np.isfinite(f))
    names = D.FEATURE_NAMES
    assert len(names) == 88 == len(set(names))
    assert (names[0], names[12], names[24], names[30], names[31], names[43], names[73], names[87]) == (
        "var_s1o1", "shape_s1o1", "shape_o1_s12", "shape_all", "cs_hp_s1o1", "spcorr_s1o1_p3",
        "cs_s1o1_s1o2", "cs_s1o5_s1o6")
    np.testing.assert_array_equal(f, D.extract(astronaut_small.copy()))
    assert np.all(f[:12] > 0) and np.all((f[12:31] >= 0.2) & (f[12:31] <= 10.0))
    assert np.all(np.abs(f[31:43]) <= 1) and np.all(np.abs(f[73:]) <= 1)


def test_finite_on_calibration_photo(calib_crop):
    f = D.extract(calib_crop)
    assert f.shape == (88,) and np.all(np.isfinite(f))


def test_registered_extractor(astronaut_small):
    ext = get_extractor("diivine")
    assert ext.version == D.VERSION == "4" and "Moorthy" in ext.paper
    np.testing.assert_array_equal(ext(astronaut_small), D.extract(astronaut_small))


def test_grey_rgba_uint16_conventions(astronaut_small):
    f = D.extract(astronaut_small)
    np.testing.assert_array_equal(D.extract(rgb_to_gray(astronaut_small)), f)
    rgba = np.concatenate([astronaut_small, np.zeros(astronaut_small.shape[:2] + (1,), np.uint8)], -1)
    np.testing.assert_array_equal(D.extract(rgba), f)
    np.testing.assert_array_equal(D.extract(astronaut_small.astype(np.uint16) * 257), f)


def test_gain_changes_only_variances_and_cs(astronaut_small):
    g = rgb_to_gray(astronaut_small)
    f, f2 = D.extract(g), D.extract(0.5 * g)
    np.testing.assert_allclose(f2[:12], 0.25 * f[:12], rtol=1e-8)          # f1-f12 scale with k^2
    np.testing.assert_allclose(f2[12:31], f[12:31], atol=1.5e-3)           # shapes: grid cells
    np.testing.assert_allclose(f2[43:73], f[43:73], rtol=1e-6, atol=1e-9)  # correlations
    assert not np.allclose(f2[31:43], f[31:43])                            # C2 is absolute


def test_errors_constant_and_small():
    with pytest.raises(ImageError, match="constant"):
        D.extract(np.full((80, 80), 200, np.uint8))
    with pytest.raises(ImageError, match="smaller"):
        D.extract(np.random.default_rng(0).integers(0, 256, (59, 100, 3), dtype=np.uint8))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = D.extract(np.random.default_rng(0).integers(0, 256, (60, 61), dtype=np.uint8))
    assert np.all(np.isfinite(f))


def test_blur_and_noise_move_features_as_expected(astronaut_small, calib_crop):
    names = list(D.FEATURE_NAMES)
    var1 = [names.index(f"var_s1o{o}") for o in range(1, 7)]
    cs_hp1 = [names.index(f"cs_hp_s1o{o}") for o in range(1, 7)]
    p3 = [names.index(f"spcorr_s1o{o}_p3") for o in range(1, 7)]
    for img in (astronaut_small, calib_crop):
        f, fb, fn = D.extract(img), D.extract(_blur(img)), D.extract(_noisy(img))
        # blur: finest normalised bands lose energy and become smoother (fitted rho(1) rises)
        assert np.all(fb[var1] < f[var1])
        rho1 = lambda v: np.array([v[i:i + 4].sum() for i in p3])          # p3 + p2 + p1 + p0
        assert np.all(rho1(fb) > rho1(f) + 0.1)
        # noise: spatially white energy decorrelates neighbours, band-pass vs high-pass cs drops
        assert np.all(rho1(fn) < rho1(f))
        assert np.all(fn[cs_hp1] < f[cs_hp1])
