"""VIF (features.fullref.vif, vifvec.m): calibration, steerable pyramid, properties, errors."""
from __future__ import annotations

import numpy as np
import pytest

from features.fullref import vif
from features.fullref.vif import HEIGHT, ORDER, SUBBANDS, _pyramid_bands, _subband_location
from features.imageio import ImageError, load_image

TOL = 5e-4


def test_calibration_tid2013(calibration_pairs):
    """The calibration ``vif`` row is the wavelet-domain vifvec.m on rgb2gray."""
    root, official = calibration_pairs
    for name in official.columns:
        ref, dist = load_image(root / "ref_dir" / name), load_image(root / "dist_dir" / name)
        assert vif(ref, dist) == pytest.approx(official.loc["vif", name], abs=TOL), name


def test_pyramid_matches_pyrtools():
    """Our bands equal pyrtools' port of matlabPyrTools buildSpyr(..., 'sp5Filters', 'reflect1')."""
    from pyrtools.pyramids import SteerablePyramidSpace

    img = np.random.default_rng(4).uniform(0, 255, (80, 97))
    ours = _pyramid_bands(img, {(lev, ori) for lev in range(HEIGHT) for ori in range(ORDER + 1)})
    pyr = SteerablePyramidSpace(img, height=HEIGHT, order=ORDER, edge_type="reflect1")
    for key, band in ours.items():
        np.testing.assert_allclose(band, pyr.pyr_coeffs[key], rtol=0, atol=1e-9, err_msg=str(key))


def test_subband_indexing_follows_ind2wtree():
    """ind2wtree reverses buildSpyr's band list [hi0, (0,0) .. (3,5), lowpass] into a cell array."""
    order = ["hi0"] + [(lev, ori) for lev in range(HEIGHT) for ori in range(ORDER + 1)] + ["lo"]
    wtree = order[::-1]
    for sub in SUBBANDS:
        assert wtree[sub - 1] == _subband_location(sub)
    assert {_subband_location(s)[1] for s in SUBBANDS} == {0, 3}


def test_properties(astronaut_small):
    other = np.roll(astronaut_small, 1, axis=1)
    assert vif(astronaut_small, astronaut_small) == pytest.approx(1.0, abs=1e-9)
    assert 0.1 < vif(astronaut_small, other) < 0.5
    assert vif(astronaut_small, other) != pytest.approx(vif(other, astronaut_small), abs=1e-6)  # order matters
    assert vif(astronaut_small, np.full_like(astronaut_small, 90)) == 0.0
    # Sheikh & Bovik: a contrast enhancement of the reference gives VIF > 1
    g = astronaut_small[..., 1].astype(float)
    low, high = (np.round(128 + c * (g - 128)).astype(np.uint8) for c in (0.6, 0.9))
    assert vif(low, high) > 1.05


def test_errors(astronaut_small):
    with pytest.raises(ImageError, match="distorted image is 128x100"):
        vif(astronaut_small, astronaut_small[:, :100])
    with pytest.raises(ImageError, match="smaller than the 72x72 VIF"):
        vif(astronaut_small[:71], astronaut_small[:71])
    assert np.isfinite(vif(astronaut_small[:72, :72], astronaut_small[1:73, :72]))
    with pytest.raises(ImageError, match="constant reference"):
        vif(np.full((80, 80), 50, np.uint8), astronaut_small[:80, :80, 0])
