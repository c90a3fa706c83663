"""SSIM (features.fullref.ssim): calibration, scikit-image cross-check, ssim.m downsampling, errors."""
from __future__ import annotations

import numpy as np
import pytest

from features.fullref import ssim
from features.matlab import rgb2gray
from features.fullref.ssim import _ssim_cs
from features.imageio import ImageError, load_image

TOL = 5e-4


def _load(root, name):
    return load_image(root / "ref_dir" / name), load_image(root / "dist_dir" / name)


def test_calibration_tid2013(calibration_pairs):
    root, official = calibration_pairs
    for name in official.columns:
        ref, dist = _load(root, name)
        assert ssim(ref, dist) == pytest.approx(official.loc["ssim", name], abs=TOL), name


def test_matches_scikit_image_on_grey(astronaut_small):
    """Wang's configuration of skimage's SSIM (Gaussian 11x11, sigma 1.5, population
    covariance, L=255) averages the same 'valid' map: an independent implementation."""
    from skimage.metrics import structural_similarity

    rng = np.random.default_rng(1)
    a = rgb2gray(astronaut_small).astype(np.float64)
    b = np.clip(a + rng.normal(0, 10, a.shape), 0, 255).round()
    expected = structural_similarity(a, b, gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
                                     data_range=255)
    assert ssim(a.astype(np.uint8), b.astype(np.uint8)) == pytest.approx(expected, abs=1e-9)


def test_downsample_reproduces_ssim_m(calibration_pairs):
    """ssim.m: f = round(384/256) = 2 -> 2x2 block means (even sizes: no border effect)."""
    root, _ = calibration_pairs
    ref, dist = _load(root, "I19.bmp")
    g1, g2 = rgb2gray(ref).astype(np.float64), rgb2gray(dist).astype(np.float64)
    block = lambda g: g.reshape(g.shape[0] // 2, 2, g.shape[1] // 2, 2).mean(axis=(1, 3))  # noqa: E731
    expected = _ssim_cs(block(g1), block(g2))[0]
    assert ssim(ref, dist, downsample=True) == pytest.approx(expected, abs=1e-12)
    assert ssim(ref, dist, downsample=True) != pytest.approx(ssim(ref, dist), abs=1e-3)


def test_downsample_noop_below_384(astronaut_small):
    other = np.roll(astronaut_small, 3, axis=1)
    assert ssim(astronaut_small, other, downsample=True) == ssim(astronaut_small, other)


def test_identity_symmetry_grey(astronaut_small):
    other = np.roll(astronaut_small, 2, axis=0)
    assert ssim(astronaut_small, astronaut_small) == pytest.approx(1.0, abs=1e-12)
    assert ssim(astronaut_small, other) == pytest.approx(ssim(other, astronaut_small), abs=1e-12)
    assert ssim(astronaut_small, other) < 0.95
    g1, g2 = rgb2gray(astronaut_small), rgb2gray(other)
    assert ssim(g1, g2) == pytest.approx(ssim(astronaut_small, other), abs=1e-12)
    # a constant pair is well defined (C1, C2 > 0)
    assert ssim(np.full((16, 16), 7, np.uint8), np.full((16, 16), 7, np.uint8)) == pytest.approx(1.0)


def test_errors(astronaut_small):
    with pytest.raises(ImageError, match="distorted image is 128x120"):
        ssim(astronaut_small, astronaut_small[:, :120])
    with pytest.raises(ImageError, match="smaller than the 11x11 SSIM window"):
        ssim(astronaut_small[:10, :40], astronaut_small[:10, :40])
    assert np.isfinite(ssim(astronaut_small[:11, :11], astronaut_small[:11, :11]))
