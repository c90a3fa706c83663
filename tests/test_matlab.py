"""features.matlab: the MATLAB look-alikes (rounding, rgb2gray, fspecial, filter2/imfilter/conv2
padding, box means, hanning, prctile) against MATLAB's documented values and independent
scipy/numpy references; and that the metrics use this one copy."""
from __future__ import annotations

import threading

import numpy as np
import pytest
from scipy.signal import convolve2d, correlate2d

from features import matlab as M
from features._scratch import scratch
from features.imageio import GRAY_WEIGHTS


# ------------------------------------------------------------------------------ rounding, grey
def test_round_half_away_from_zero():
    x = np.array([-2.5, -1.5, -0.5, -0.49, 0.0, 0.49, 0.5, 1.5, 2.5, 254.5])
    np.testing.assert_array_equal(M.round_half_away(x), [-3, -2, -1, -0, 0, 0, 1, 2, 3, 255])
    assert np.round(2.5) == 2.0                                   # numpy rounds halves to even
    # the largest double below 0.5: floor(x + 0.5) would give 1, MATLAB round gives 0
    below = np.nextafter(0.5, 0.0)
    assert np.floor(below + 0.5) == 1.0 and M.round_half_away(below) == 0.0


def test_rgb2gray_matches_matlab_values():
    rgb = np.array([[[255, 0, 0], [0, 255, 0], [0, 0, 255], [128, 128, 128], [255, 255, 255]]], np.uint8)
    g = M.rgb2gray(rgb)
    assert g.dtype == np.uint8
    np.testing.assert_array_equal(g, [[76, 150, 29, 128, 255]])   # MATLAB rgb2gray(uint8(...))
    with pytest.raises(ValueError, match="uint8"):
        M.rgb2gray(rgb.astype(np.float64))


def test_rgb2gray_is_rounded_weighted_sum_on_random_colours():
    rgb = np.random.default_rng(0).integers(0, 256, (512, 1024, 3), dtype=np.uint8)
    s = rgb.astype(np.float64) @ GRAY_WEIGHTS
    np.testing.assert_array_equal(M.rgb2gray(rgb), M.round_half_away(s).astype(np.uint8))


def test_gray_double_conventions():
    rgb = np.random.default_rng(1).integers(0, 256, (9, 7, 3), dtype=np.uint8)
    g = M.gray_double(rgb)
    assert g.dtype == np.float64
    np.testing.assert_array_equal(g, M.rgb2gray(rgb))
    np.testing.assert_array_equal(M.gray_double(np.dstack([rgb, rgb[..., :1]])), g)      # alpha dropped
    grey = np.random.default_rng(2).random((5, 6))
    np.testing.assert_array_equal(M.gray_double(grey), grey * 255.0)                   # not rounded


# ------------------------------------------------------------------------------ kernels
def test_fspecial_gaussian_matlab_values_and_cut():
    h = M.fspecial_gaussian(3, 0.5)                                   # MATLAB's default
    np.testing.assert_allclose(h, [[0.0113, 0.0838, 0.0113], [0.0838, 0.6193, 0.0838],
                                   [0.0113, 0.0838, 0.0113]], atol=5e-5)
    assert h.sum() == pytest.approx(1.0, abs=1e-15)
    g = M.gaussian_1d(11, 1.5)
    np.testing.assert_allclose(np.outer(g, g), M.fspecial_gaussian(11, 1.5), rtol=1e-13, atol=0)
    # MATLAB zeroes taps below eps * max: the separable factor does not, so it is only used
    # where no tap is cut (every window in this project)
    cut = M.fspecial_gaussian(11, 0.5)
    assert cut[0, 0] == 0.0 and np.outer(M.gaussian_1d(11, 0.5), M.gaussian_1d(11, 0.5))[0, 0] > 0
    assert M.fspecial_gaussian((3, 5), 1.0).shape == (3, 5)


def test_hanning_is_matlab_not_numpy():
    np.testing.assert_allclose(M.hanning(4), [0.3455, 0.9045, 0.9045, 0.3455], atol=5e-5)
    assert M.hanning(5)[0] > 0 and np.hanning(5)[0] == 0


def test_prctile_matlab_definition():
    assert M.prctile([1, 2, 3, 4], 50) == 2.5
    np.testing.assert_allclose(M.prctile([1, 2, 3, 4], [25, 75]), [1.5, 3.5])
    assert M.prctile(np.arange(1, 11), 5) == 1.0                     # below the first point
    assert M.prctile(np.arange(1, 11), 99) == 10.0


# ------------------------------------------------------------------------------ filtering
@pytest.fixture
def img():
    return np.random.default_rng(3).uniform(0, 255, (13, 17))


@pytest.mark.parametrize("shape", ["same", "valid", "full"])
def test_filter2_and_conv2_equal_scipy_for_odd_kernels(img, shape):
    k = np.random.default_rng(4).normal(size=(5, 3))
    np.testing.assert_allclose(M.filter2(k, img, shape), correlate2d(img, k, mode=shape), atol=1e-10)
    np.testing.assert_allclose(M.conv2(img, k, shape), convolve2d(img, k, mode=shape), atol=1e-10)


def test_even_kernel_same_window_lies_after_i():
    """MATLAB's 'same' centre is floor((m+1)/2): for ones(2) output i sums x[i] and x[i+1]."""
    x = np.arange(1.0, 10.0).reshape(3, 3)
    want = np.array([[12.0, 16.0, 9.0], [24.0, 28.0, 15.0], [15.0, 17.0, 9.0]])
    np.testing.assert_array_equal(M.filter2(np.ones((2, 2)), x), want)
    np.testing.assert_array_equal(M.conv2(x, np.ones((2, 2))), want)
    k = np.array([[1.0, 2.0], [3.0, 5.0]])                 # conv2 rotates the kernel, same anchor
    np.testing.assert_array_equal(M.conv2(x, k), M.filter2(k[::-1, ::-1], x))


@pytest.mark.parametrize("boundary,mode", [("symmetric", "symmetric"), ("replicate", "edge"), ("circular", "wrap")])
@pytest.mark.parametrize("ksize", [(3, 3), (4, 2), (7, 5)])
def test_imfilter_boundaries_equal_explicit_padding(img, boundary, mode, ksize):
    k = np.random.default_rng(5).normal(size=ksize)
    m, n = ksize
    a_r, a_c = (m - 1) // 2, (n - 1) // 2
    padded = np.pad(img, ((a_r, m - 1 - a_r), (a_c, n - 1 - a_c)), mode=mode)
    np.testing.assert_allclose(M.imfilter(img, k, boundary), correlate2d(padded, k, mode="valid"), atol=1e-10)


def test_imfilter_kernel_wider_than_image_and_zero_boundary():
    x = np.random.default_rng(6).uniform(0, 1, (3, 4))
    k = np.random.default_rng(7).normal(size=(7, 7))
    padded = np.pad(x, 3, mode="symmetric")       # numpy repeats the mirror as MATLAB's padarray
    np.testing.assert_allclose(M.imfilter(x, k, "symmetric"), correlate2d(padded, k, mode="valid"), atol=1e-12)
    np.testing.assert_allclose(M.imfilter(x, k, 0), correlate2d(x, k, mode="same"), atol=1e-12)


def test_separable_pair_uint8_and_fast_valid_agree(img):
    g = M.gaussian_1d(7, 7 / 6)
    u8 = np.round(img).astype(np.uint8)
    full = M.filter2(np.outer(g, g), u8.astype(np.float64))
    np.testing.assert_allclose(M.filter2((g, g), u8), full, rtol=1e-13, atol=1e-11)
    # uint8 input goes to OpenCV as float32: the same bits as the float64 copy
    np.testing.assert_array_equal(M.filter2((g, g), u8), M.filter2((g, g), u8.astype(np.float64)))
    v = M.filter2((g, g), img, "valid")
    np.testing.assert_array_equal(M.filter2_valid_separable(np.ascontiguousarray(img), g, g), v)
    np.testing.assert_allclose(v, correlate2d(img, np.outer(g, g), mode="valid"), atol=1e-10)
    assert M.filter2((g, g), img[:5, :5], "valid").shape == (0, 0)


def test_bad_arguments():
    with pytest.raises(ValueError, match="boundary"):
        M.imfilter(np.ones((4, 4)), np.ones((3, 3)), "mirror")
    with pytest.raises(ValueError, match="shape"):
        M.filter2(np.ones((3, 3)), np.ones((4, 4)), "middle")
    with pytest.raises(ValueError, match="2-D"):
        M.filter2(np.ones((3, 3)), np.ones((4, 4, 3)))


@pytest.mark.parametrize("shape", [(8, 10), (9, 11)])
@pytest.mark.parametrize("m,step", [(2, 2), (3, 1), (3, 3), (4, 2)])
@pytest.mark.parametrize("boundary", ["symmetric", "zero"])
def test_box_mean_equals_imfilter_then_subsampling(shape, m, step, boundary):
    x = np.random.default_rng(8).integers(0, 256, shape).astype(np.uint8)
    want = M.imfilter(x.astype(np.float64), np.ones((m, m)) / (m * m), boundary)[::step, ::step]
    got = M.box_mean(x, m, boundary, step)
    assert got.dtype == np.float64 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=1e-12)


# ------------------------------------------------------------------------------ one copy
def test_metrics_use_the_one_copy():
    import features.imresize
    from features import brisque, cues
    from features.fullref import _filters

    assert brisque.to_gray_uint8 is M.gray_double
    assert features.imresize.imresize is M.imresize
    assert cues._matlab_hanning is M.hanning
    for name in ("matlab_rgb2gray", "matlab_round", "fspecial_gaussian", "box_mean_same", "conv2_same"):
        assert not hasattr(_filters, name), name


def test_scratch_buffers_are_per_thread_and_grow():
    a = scratch("t_matlab", (4, 5))
    b = scratch("t_matlab", (2, 3))
    assert np.shares_memory(a, b) and b.shape == (2, 3) and b.flags.c_contiguous
    c = scratch("t_matlab", (40, 50))
    assert c.shape == (40, 50)
    assert scratch("t_matlab", (4, 5), np.float32).dtype == np.float32
    other = []
    t = threading.Thread(target=lambda: other.append(scratch("t_matlab", (40, 50))))
    t.start()
    t.join()
    assert not np.shares_memory(other[0], c)
