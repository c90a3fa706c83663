"""FSIM / FSIMc (features.fullref.fsim): calibration, phase congruency, identities, errors."""
from __future__ import annotations

import numpy as np
import pytest

from features.fullref import fsim, phase_congruency
from features.imageio import ImageError, load_image

TOL = 5e-4


def test_calibration_tid2013_fsimc(calibration_pairs):
    """The calibration ``fsim`` row is FeatureSIM.m's FSIMc output (automatic downsampling F=2)."""
    root, official = calibration_pairs
    for name in official.columns:
        ref, dist = load_image(root / "ref_dir" / name), load_image(root / "dist_dir" / name)
        assert fsim(ref, dist) == pytest.approx(official.loc["fsim", name], abs=TOL), name


def test_luminance_only_differs_on_colour(calibration_pairs):
    root, official = calibration_pairs
    ref, dist = load_image(root / "ref_dir" / "I03.bmp"), load_image(root / "dist_dir" / "I03.bmp")
    assert abs(fsim(ref, dist, chromatic=False) - fsim(ref, dist)) > 1e-3


def test_phase_congruency_peaks_on_step_edge():
    """A vertical step edge: PC is constant along rows, maximal at the edge, mirror-symmetric."""
    im = np.full((64, 64), 50.0)
    im[:, 32:] = 200.0
    pc = phase_congruency(im)
    assert np.all(np.isfinite(pc))
    np.testing.assert_allclose(pc, np.broadcast_to(pc[:1], pc.shape), atol=1e-9)
    row = pc[0]
    assert set(np.flatnonzero(np.isclose(row, row.max()))) >= {31, 32}
    np.testing.assert_allclose(row[26:32], row[32:38][::-1], atol=1e-9)
    assert row[31] > 2 * row[20]


def test_identity_symmetry(astronaut_small):
    other = np.roll(astronaut_small, 2, axis=1)
    for chromatic in (True, False):
        assert fsim(astronaut_small, astronaut_small, chromatic) == pytest.approx(1.0, abs=1e-12)
        assert fsim(astronaut_small, other, chromatic) == pytest.approx(fsim(other, astronaut_small, chromatic),
                                                                       abs=1e-12)
    assert fsim(astronaut_small, other) < 0.95


def test_grey_input(astronaut_small):
    """Grey input: I = Q = 1 in FeatureSIM.m, so FSIMc == FSIM; a replicated grey RGB image
    has I = Q = 0 and gives the same value."""
    g1 = astronaut_small[..., 0]
    g2 = np.roll(g1, 3, axis=0)
    rgb = lambda g: np.repeat(g[..., None], 3, axis=-1)  # noqa: E731
    assert fsim(g1, g2) == fsim(g1, g2, chromatic=False)
    assert fsim(rgb(g1), rgb(g2)) == pytest.approx(fsim(g1, g2), abs=1e-9)


def test_errors(astronaut_small):
    with pytest.raises(ImageError, match="distorted image is 100x128"):
        fsim(astronaut_small, astronaut_small[:100])
    flat = np.full((32, 32, 3), 128, np.uint8)
    with pytest.raises(ImageError, match="constant"):
        fsim(flat, astronaut_small[:32, :32])
    with pytest.raises(ImageError, match="smaller than the 3x3"):
        fsim(astronaut_small[:2, :8], astronaut_small[:2, :8])
