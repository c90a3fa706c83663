"""The distortion library: contract (shape, dtype, levels, determinism), severity order, models."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets import distortions as D
from benchmark.datasets.distortions import DISTORTIONS, apply_distortion, distortion_rng
from features.imageio import ImageError, rgb_to_gray

NAMES = sorted(DISTORTIONS)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float("inf") if mse == 0 else 10 * np.log10(255.0 ** 2 / mse)


def test_registry_has_the_canonical_names():
    required = {"jpeg", "jpeg2000", "white_noise", "gaussian_blur", "contrast", "pink_noise", "saturation"}
    assert required <= set(DISTORTIONS)
    for name, d in DISTORTIONS.items():
        assert d.name == name and len(d.values) == 5
        assert [d.value(lv) for lv in D.LEVELS] == list(d.values)
    table = D.parameter_table()
    assert list(table["distortion"]) == list(DISTORTIONS)


def test_parameters_follow_kadid10k():
    # KADID-10k imdist_generator.m: JPEG qualities and Gaussian-noise variances on [0, 1].
    assert D.JPEG_QUALITY == (43, 36, 24, 7, 4)
    np.testing.assert_allclose(np.asarray(D.WHITE_NOISE_SIGMA) ** 2 / 255.0 ** 2,
                               [0.001, 0.002, 0.003, 0.005, 0.01], rtol=1e-12)
    # JPEG 2000 ratios 16/32/45/120/400 within OpenCV's 1000/int step.
    np.testing.assert_allclose(D.JP2K_RATIO, [16, 32, 45, 120, 400], rtol=0.2)
    assert D.IMPULSE_DENSITY == (0.001, 0.005, 0.01, 0.02, 0.03)


@pytest.mark.parametrize("name", NAMES)
def test_shape_dtype_and_determinism(name, astronaut_small):
    img = astronaut_small[:96, :80]
    before = img.copy()
    a = apply_distortion(name, img, 3, np.random.default_rng(7))
    b = apply_distortion(name, img, 3, np.random.default_rng(7))
    assert a.shape == img.shape and a.dtype == np.uint8
    np.testing.assert_array_equal(a, b)
    np.testing.assert_array_equal(img, before)  # input untouched
    np.testing.assert_array_equal(apply_distortion(name, img, 3), apply_distortion(name, img, 3))  # rng=None
    c = apply_distortion(name, img, 3, np.random.default_rng(8))
    assert (not np.array_equal(a, c)) == DISTORTIONS[name].stochastic
    assert not np.array_equal(a, img)


@pytest.mark.parametrize("name", NAMES)
def test_severity_is_monotonic(name, astronaut_small):
    values = [psnr(astronaut_small, DISTORTIONS[name](astronaut_small, lv, distortion_rng("astronaut", name, lv)))
              for lv in D.LEVELS]
    assert all(np.diff(values) < 0), f"{name}: PSNR by level {np.round(values, 2)}"
    assert values[0] < 45 and values[-1] < 30, f"{name}: PSNR by level {np.round(values, 2)}"


@pytest.mark.parametrize("level", [0, 6, -1, 2.5, True, "3", None])
def test_bad_level_raises(level, astronaut_small):
    with pytest.raises(ValueError, match="level"):
        DISTORTIONS["jpeg"](astronaut_small, level)
    with pytest.raises(ValueError, match="level"):
        DISTORTIONS["white_noise"].value(level)


def test_numpy_integer_level_accepted(astronaut_small):
    np.testing.assert_array_equal(D.jpeg(astronaut_small, np.int64(2)), D.jpeg(astronaut_small, 2))


@pytest.mark.parametrize("bad", [
    np.zeros((64, 64), np.uint8),
    np.zeros((64, 64, 4), np.uint8),
    np.zeros((64, 64, 3), np.float64),
    np.zeros((4, 64, 3), np.uint8),
])
def test_bad_image_raises(bad):
    with pytest.raises(ImageError):
        D.white_noise(bad, 1)


def test_jpeg2000_needs_32_pixels(astronaut_small):
    with pytest.raises(ImageError, match="jpeg2000"):
        D.jpeg2000(astronaut_small[:16, :16], 1)
    assert D.jpeg2000(astronaut_small[:32, :48], 5).shape == (32, 48, 3)


def test_unknown_name_and_bad_rng(astronaut_small):
    with pytest.raises(KeyError, match="known"):
        apply_distortion("fast_fading", astronaut_small, 1)
    with pytest.raises(TypeError, match="Generator"):
        D.white_noise(astronaut_small, 1, rng=np.random.RandomState(0))


def test_distortion_rng_is_keyed():
    draw = lambda *k: distortion_rng(*k).standard_normal(4)  # noqa: E731
    np.testing.assert_array_equal(draw("a", "white_noise", 1), draw("a", "white_noise", 1))
    for other in [("b", "white_noise", 1), ("a", "pink_noise", 1), ("a", "white_noise", 2)]:
        assert not np.array_equal(draw("a", "white_noise", 1), draw(*other))
    assert not np.array_equal(draw("a", "white_noise", 1, 0), draw("a", "white_noise", 1, 1))


def test_white_noise_sigma():
    flat = np.full((128, 128, 3), 128, np.uint8)
    for lv in (1, 5):
        diff = D.white_noise(flat, lv, np.random.default_rng(lv)).astype(float) - 128
        assert abs(diff.std() / D.WHITE_NOISE_SIGMA[lv - 1] - 1) < 0.03
        assert abs(diff.mean()) < 0.5


def test_pink_noise_spectrum_slope():
    noise = D._one_over_f((128, 128, 3), np.random.default_rng(0))
    np.testing.assert_allclose(noise.mean(axis=(0, 1)), 0, atol=1e-9)
    np.testing.assert_allclose(noise.std(axis=(0, 1)), 1, rtol=1e-9)
    amp = np.abs(np.fft.fft2(noise, axes=(0, 1))).mean(axis=2)
    fy, fx = np.meshgrid(np.fft.fftfreq(128), np.fft.fftfreq(128), indexing="ij")
    f = np.hypot(fy, fx)
    sel = (f > 0.02) & (f < 0.45)
    slope = np.polyfit(np.log(f[sel]), np.log(amp[sel]), 1)[0]
    assert abs(slope + 1) < 0.1, slope  # amplitude ~ 1/f


def test_contrast_keeps_mean_and_scales_spread(astronaut_small):
    y0 = rgb_to_gray(astronaut_small)
    for lv in D.LEVELS:
        y = rgb_to_gray(D.contrast(astronaut_small, lv))
        c = D.CONTRAST_FACTOR[lv - 1]
        assert abs(y.mean() - y0.mean()) < 0.3
        assert abs(y.std() / (c * y0.std()) - 1) < 0.01


def test_saturation_matches_hsv_scaling(astronaut_small):
    from skimage.color import hsv2rgb, rgb2hsv

    for lv in D.LEVELS:
        hsv = rgb2hsv(astronaut_small)
        hsv[..., 1] *= D.SATURATION_FACTOR[lv - 1]
        ref = hsv2rgb(hsv) * 255
        out = D.saturation(astronaut_small, lv).astype(float)
        assert np.abs(out - ref).max() <= 1.0
    grey = D.saturation(astronaut_small, 5)
    assert np.array_equal(grey[..., 0], grey[..., 1]) and np.array_equal(grey[..., 1], grey[..., 2])
    g = np.repeat(astronaut_small[..., :1], 3, axis=2)
    np.testing.assert_array_equal(D.saturation(g, 3), g)


def test_gaussian_blur_matches_opencv_symmetric(astronaut_small):
    import cv2

    x = astronaut_small.astype(np.float64)
    for lv in (1, 5):
        s = D.BLUR_SIGMA[lv - 1]
        k = 2 * int(3 * s + 0.5) + 1
        ref = cv2.GaussianBlur(x, (k, k), s, borderType=cv2.BORDER_REFLECT)
        out = D.gaussian_blur(astronaut_small, lv).astype(np.float64)
        assert np.abs(out - ref).max() <= 1.0


def test_impulse_noise_density():
    img = np.full((128, 128, 3), 100, np.uint8)
    out = D.impulse_noise(img, 5, np.random.default_rng(0))
    hit = out != 100
    assert abs(hit.mean() / 0.03 - 1) < 0.1
    assert set(np.unique(out[hit])) <= {0, 255}


def test_jpeg2000_encoders_agree(astronaut_small):
    # Pillow is only the fallback where OpenCV lacks OpenJPEG: same ratios, similar damage.
    from PIL import features

    if D.jpeg2000_encoder() != "opencv" or not features.check("jpg_2000"):
        pytest.skip("needs both OpenCV and Pillow JPEG 2000")
    for lv in D.LEVELS:
        a = psnr(astronaut_small, D._jp2_opencv(astronaut_small, D.JP2K_X1000[lv - 1]))
        b = psnr(astronaut_small, D._jp2_pillow(astronaut_small, D.JP2K_RATIO[lv - 1]))
        assert abs(a - b) < 1.5, (lv, a, b)
