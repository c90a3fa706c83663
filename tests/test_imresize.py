"""MATLAB-compatible imresize: MATLAB reference outputs, hand-derived weights, and cv2.resize differences."""
from __future__ import annotations

import cv2
import numpy as np
import pytest

from features.matlab import cubic, imresize, resize_weights
from features.matlab.imresize import _contributions

# MATLAB outputs for this 8x10 uint8 input, as published in the self-tests of GNU Octave's
# image package (imresize.m, "reference results from matlab"; Octave allows +-1, we match exactly).
IN = np.array([[116, 227, 153, 69, 146, 194, 59, 130, 139, 106],
               [2, 47, 137, 249, 90, 75, 16, 24, 158, 44],
               [155, 68, 46, 84, 166, 156, 69, 204, 32, 152],
               [71, 221, 137, 230, 210, 153, 192, 115, 30, 118],
               [107, 143, 108, 52, 51, 73, 101, 21, 175, 90],
               [54, 158, 143, 77, 26, 168, 113, 229, 165, 225],
               [9, 47, 133, 135, 130, 207, 236, 43, 19, 73],
               [129, 60, 59, 243, 64, 181, 249, 56, 32, 86]], dtype=np.uint8)

MATLAB = {
    ("bicubic", 0.5, False): [[92, 164, 123, 38, 118], [139, 116, 188, 167, 69], [121, 87, 67, 108, 180],
                              [54, 153, 141, 149, 42]],
    ("bicubic", 0.5, True): [[105, 140, 126, 81, 109], [110, 134, 153, 114, 93], [108, 108, 94, 127, 146],
                             [67, 126, 162, 149, 62]],
    ("bicubic", 1 / 3, False): [[47, 90, 24, 44], [143, 51, 21, 90], [60, 64, 56, 86]],
    ("bicubic", 1 / 3, True): [[115, 135, 97, 101], [113, 119, 124, 125], [81, 157, 118, 64]],
    ("bilinear", 0.5, True): [[108, 136, 125, 89, 107], [111, 132, 143, 114, 99], [106, 110, 106, 127, 136],
                              [75, 124, 154, 142, 75]],
    ("bilinear", 1 / 3, True): [[115, 131, 101, 102], [114, 117, 120, 121], [91, 147, 116, 76]],
    ("bicubic", 1.5, True): [
        [116, 187, 237, 171, 94, 61, 135, 191, 187, 75, 91, 142, 140, 124, 108],
        [43, 92, 143, 149, 164, 163, 119, 123, 118, 44, 38, 80, 151, 118, 62],
        [13, 21, 47, 107, 195, 228, 115, 81, 70, 24, 19, 56, 137, 105, 48],
        [146, 98, 49, 49, 71, 107, 148, 159, 132, 58, 124, 176, 61, 85, 146],
        [118, 139, 144, 92, 116, 168, 201, 188, 159, 140, 167, 158, 27, 69, 153],
        [61, 151, 218, 145, 174, 219, 201, 164, 146, 187, 148, 84, 48, 76, 115],
        [102, 132, 151, 119, 90, 72, 72, 72, 83, 114, 60, 31, 144, 130, 80],
        [81, 121, 154, 133, 87, 41, 19, 67, 116, 95, 108, 140, 183, 180, 163],
        [37, 95, 152, 150, 117, 73, 35, 108, 179, 130, 174, 214, 153, 176, 219],
        [3, 29, 73, 131, 136, 120, 116, 162, 214, 229, 147, 54, 35, 62, 96],
        [67, 54, 51, 83, 153, 187, 111, 141, 210, 255, 149, 22, 13, 42, 74],
        [142, 99, 53, 43, 164, 237, 77, 103, 197, 254, 159, 42, 31, 59, 91]],
    ("bilinear", 0.91, False): [
        [115, 208, 134, 100, 163, 117, 101, 136, 109, 103], [26, 61, 149, 182, 95, 53, 41, 116, 73, 60],
        [133, 101, 82, 140, 167, 125, 152, 71, 126, 144], [88, 184, 137, 164, 142, 145, 110, 81, 104, 108],
        [86, 146, 109, 55, 73, 110, 111, 156, 153, 150], [33, 104, 131, 100, 130, 184, 147, 97, 133, 142],
        [84, 59, 114, 164, 133, 219, 120, 33, 72, 81], [126, 60, 104, 181, 116, 218, 125, 38, 77, 86]],
}


@pytest.mark.parametrize("key", list(MATLAB), ids=[f"{m}-{s:.3g}-aa{a}" for m, s, a in MATLAB])
def test_matches_matlab_uint8_outputs(key):
    method, scale, aa = key
    out = imresize(IN, scale, method=method, antialiasing=aa)
    assert out.dtype == np.uint8
    np.testing.assert_array_equal(out, np.array(MATLAB[key], dtype=np.uint8))


def test_matlab_4_3_output_size_rounds_up():
    # 8 x 10 * 4/3 = 10.67 x 13.33 -> ceil -> 11 x 14 (MATLAB); first row from the Octave/MATLAB reference
    out = imresize(IN, 4 / 3)
    assert out.shape == (11, 14)
    np.testing.assert_array_equal(out[0], [116, 203, 221, 141, 62, 110, 180, 191, 70, 104, 143, 136, 111, 106])


def test_half_scale_antialiased_bicubic_weights_by_hand():
    # 0.5 * cubic(0.5 x) at x = +-0.5, +-1.5, +-2.5, +-3.5 (Keys a = -0.5), worked out by hand
    expected = [-0.01171875, -0.03515625, 0.11328125, 0.43359375, 0.43359375, 0.11328125, -0.03515625, -0.01171875]
    W = resize_weights(32, 16, 0.5)
    np.testing.assert_allclose(W[8, 13:21], expected, atol=1e-15)
    np.testing.assert_allclose(W.sum(axis=1), 1.0, atol=1e-14)
    # symmetric boundary: the first output pixel folds taps at -2..0 back onto pixels 1..3 (incl. the edge)
    assert W[0, 0] == pytest.approx(0.43359375 + 0.11328125)
    assert cubic(np.array([0.0, 1.0, 2.0, 0.5]))[3] == pytest.approx(0.5625)


def test_float_path_matches_uint8_path_within_rounding():
    out_f = imresize(IN.astype(np.float64), 0.5)
    assert out_f.dtype == np.float64
    assert np.abs(out_f - imresize(IN, 0.5).astype(float)).max() <= 1.0


def test_bilinear_upscaling_equals_cv2_linear():
    # same pixel-centre geometry; the mirrored edge tap equals OpenCV's replicated border for width 2
    rng = np.random.default_rng(0)
    x = rng.random((20, 24))
    ours = imresize(x, 2.0, method="bilinear")
    ocv = cv2.resize(x, None, fx=2, fy=2, interpolation=cv2.INTER_LINEAR)
    np.testing.assert_allclose(ours, ocv, atol=1e-6)


def test_differs_from_cv2_where_it_should():
    rng = np.random.default_rng(1)
    x = rng.random((64, 64)) * 255
    cv_cubic = cv2.resize(x, (32, 32), interpolation=cv2.INTER_CUBIC)
    # antialiasing low-passes white noise: much smaller spread than OpenCV's point sampling
    assert imresize(x, 0.5).std() < 0.7 * cv_cubic.std()

    # Without antialiasing only the cubic parameter differs.  Halving samples half-way between
    # pixels 2j and 2j+1 (0-based); Keys weights at offsets 1.5, 0.5, 0.5, 1.5 worked out by hand:
    # a = -0.5 (MATLAB) -> (-1/16, 9/16, 9/16, -1/16); a = -0.75 (OpenCV) -> (-3/32, 19/32, 19/32, -3/32).
    row = rng.random(64) * 255
    img = np.tile(row, (8, 1))                      # varies along columns only
    taps = np.stack([row[2 * j - 1:2 * j + 3] for j in range(1, 31)])
    ours = imresize(img, (8, 32), antialiasing=False)[0, 1:31]
    ocv = cv2.resize(img, (32, 8), interpolation=cv2.INTER_CUBIC)[0, 1:31]
    np.testing.assert_allclose(ours, taps @ np.array([-1, 9, 9, -1]) / 16, atol=1e-10)
    np.testing.assert_allclose(ocv, taps @ np.array([-3, 19, 19, -3]) / 32, atol=1e-8)
    assert np.abs(ours - ocv).max() > 1.0


def test_shapes_channels_and_order():
    x = np.random.default_rng(2).random((30, 50, 3))
    assert imresize(x, 0.5).shape == (15, 25, 3)
    assert imresize(x, (10, None)).shape == (10, 17)[:2] + (3,)
    assert imresize(x, (12, 20)).shape == (12, 20, 3)
    for c in range(3):
        np.testing.assert_allclose(imresize(x, 0.37)[..., c], imresize(x[..., c], 0.37), atol=1e-12)
    const = np.full((17, 23), 7.5)
    np.testing.assert_allclose(imresize(const, 0.3), 7.5, atol=1e-12)
    np.testing.assert_array_equal(imresize(IN, 1.0), IN)


def test_bad_arguments():
    with pytest.raises(ValueError, match="method"):
        imresize(IN, 0.5, method="spline")
    with pytest.raises(ValueError, match="positive"):
        imresize(IN, 0.0)
    with pytest.raises(ValueError, match="uint8"):
        imresize(IN.astype(np.int32), 0.5)


def _tap_loop(x: np.ndarray, scale: float, method: str = "bicubic", aa: bool = True) -> np.ndarray:
    """Reference: MATLAB's resizeAlongDim as a loop over the taps, in tap order, per dimension."""
    x = x.astype(np.float64)
    out_shape = [int(np.ceil(scale * n)) for n in x.shape[:2]]
    for dim in (0, 1):
        src, w = _contributions(x.shape[dim], out_shape[dim], float(scale), method, aa)
        shape = [1] * x.ndim
        shape[dim] = w.shape[0]
        acc = None
        for p in range(w.shape[1]):
            term = w[:, p].reshape(shape) * np.take(x, src[:, p], axis=dim)
            acc = term if acc is None else acc + term
        x = acc
    return x


@pytest.mark.parametrize("shape,scale", [((384, 512), 0.5), ((96, 128), 2.0), ((37, 51), 0.37), ((20, 30, 3), 1.7)])
def test_sparse_passes_are_bit_identical_to_the_tap_loop(shape, scale):
    x = np.random.default_rng(0).uniform(0, 255, shape)
    np.testing.assert_array_equal(imresize(x, scale), _tap_loop(x, scale))


def test_old_import_path_still_works():
    import features.imresize as old

    assert old.imresize is imresize and old.resize_weights is resize_weights
