"""PSNR (features.fullref.psnr): calibration against the original outputs, identities, errors."""
from __future__ import annotations

import numpy as np
import pytest

from features.fullref import psnr
from features.imageio import ImageError, load_image

TOL_DB = 0.01  # calibration values are given to 2 decimals


def test_calibration_tid2013(calibration_pairs):
    root, official = calibration_pairs
    for name in official.columns:
        ref = load_image(root / "ref_dir" / name)
        dist = load_image(root / "dist_dir" / name)
        assert psnr(ref, dist) == pytest.approx(official.loc["psnr", name], abs=TOL_DB), name


def test_matches_direct_formula(astronaut_small):
    rng = np.random.default_rng(0)
    noisy = np.clip(astronaut_small + rng.normal(0, 8, astronaut_small.shape), 0, 255).astype(np.uint8)
    mse = np.mean((astronaut_small.astype(float) - noisy) ** 2)
    assert psnr(astronaut_small, noisy) == pytest.approx(10 * np.log10(255 ** 2 / mse), rel=1e-12)


def test_identity_and_symmetry(astronaut_small):
    assert psnr(astronaut_small, astronaut_small) == float("inf")
    other = astronaut_small[::-1].copy()
    assert psnr(astronaut_small, other) == psnr(other, astronaut_small)
    assert isinstance(psnr(astronaut_small, other), float)


def test_grey_equals_replicated_rgb(astronaut_small):
    g1, g2 = astronaut_small[..., 1], astronaut_small[::-1, :, 1].copy()
    rgb1, rgb2 = np.repeat(g1[..., None], 3, -1), np.repeat(g2[..., None], 3, -1)
    assert psnr(g1, g2) == pytest.approx(psnr(rgb1, rgb2), rel=1e-12)
    assert psnr(g1[..., None], g2[..., None]) == pytest.approx(psnr(g1, g2), rel=1e-12)


def test_mismatched_sizes_raise(astronaut_small):
    with pytest.raises(ImageError, match="reference is 128x128 but distorted image is 128x127"):
        psnr(astronaut_small, astronaut_small[:, :127])


def test_large_errors_do_not_overflow():
    a = np.full((1200, 1200, 3), 255, np.uint8)
    assert psnr(a, np.zeros_like(a)) == pytest.approx(0.0, abs=1e-12)
