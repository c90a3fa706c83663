"""GGD / AGGD moment-matching helpers (features._ggd)."""
from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import gennorm

from features._ggd import (GGDTable, aggd_ratio, estimate_aggd, estimate_ggd_shape, ggd_moment_ratio,
                           ggd_ratio, ggd_table)


def test_ratio_known_values():
    # r(1) = Gamma(1) Gamma(3) / Gamma(2)^2 = 2 (Laplace); r(2) = pi / 2 (Gauss); r(inf) = 4/3 (uniform)
    assert ggd_ratio(1.0) == pytest.approx(2.0, rel=1e-12)
    assert ggd_ratio(2.0) == pytest.approx(np.pi / 2, rel=1e-12)
    assert ggd_ratio(1e4) == pytest.approx(4.0 / 3.0, rel=1e-3)
    assert aggd_ratio(2.0) == pytest.approx(2 / np.pi, rel=1e-12)
    # no overflow at the BLIINDS-II grid start (Gamma(100) ~ 1e156)
    assert np.isfinite(ggd_ratio(0.03)) and ggd_ratio(0.03) > 1e7


def test_grid_matches_matlab_colon():
    t = GGDTable(0.03, 10.0, 0.001)
    assert t.grid.size == 9971                        # numel(0.03:0.001:10)
    assert t.grid[0] == pytest.approx(0.03) and t.grid[-1] == pytest.approx(10.0)
    assert ggd_table(0.2, 10.0, 0.001).grid.size == 9801
    assert np.all(np.diff(t.ratio) < 0)


def test_nearest_equals_matlab_min_abs():
    t = ggd_table(0.2, 10.0, 0.001)
    rho = np.random.default_rng(0).uniform(1.0, 40.0, 3000)
    rho[:3] = [t.ratio[0] + 5, t.ratio[-1] - 0.01, t.ratio[100]]     # outside both ends, on a node
    brute = t.grid[np.argmin(np.abs(rho[:, None] - t.ratio[None, :]), axis=1)]
    np.testing.assert_array_equal(t.nearest(rho), brute)


def _scan(table: GGDTable, rho: float) -> float:
    """The loop of BLIINDS-II gama_gen_gauss.m, verbatim in behaviour."""
    r = table.ratio
    for j in range(r.size - 1):
        if r[j] >= rho > r[j + 1]:
            return float(table.grid[j])
    return 11.0


def test_bracket_equals_release_scan():
    t = ggd_table(0.03, 10.0, 0.001)
    rng = np.random.default_rng(1)
    rho = np.concatenate([rng.uniform(1.2, 60.0, 150), [0.0, 1.0, t.ratio[-1], t.ratio[5], 1e9]])
    got = t.bracket(rho)
    want = np.array([_scan(t, v) for v in rho])
    np.testing.assert_array_equal(got, want)
    assert got[-5] == 11.0 and got[-2] == t.grid[5] and got[-1] == 11.0


@pytest.mark.parametrize("beta", [0.6, 1.0, 2.0, 3.0])
def test_shape_recovered_from_gennorm_samples(beta):
    x = gennorm.rvs(beta, scale=3.0, size=100_000, random_state=7) + 0.5
    assert float(estimate_ggd_shape(x)) == pytest.approx(beta, rel=0.03)
    bl = estimate_ggd_shape(x, method="bracket", grid=(0.03, 10.0, 0.001), ddof=1, eps=1e-7)
    assert float(bl) == pytest.approx(beta, rel=0.03)


def test_vectorised_over_leading_axes():
    x = np.random.default_rng(3).laplace(size=(4, 5, 200))
    got = estimate_ggd_shape(x)
    assert got.shape == (4, 5)
    for i in range(4):
        for j in range(5):
            assert got[i, j] == estimate_ggd_shape(x[i, j])


def test_moment_ratio_hand_computed():
    x = np.array([1.0, -1.0, 3.0, -3.0])              # mean 0, var 5, mean|x| 2
    assert ggd_moment_ratio(x) == pytest.approx(5.0 / 4.0)
    assert ggd_moment_ratio(x, ddof=1) == pytest.approx((20.0 / 3.0) / 4.0)
    assert ggd_moment_ratio(x, ddof=1, eps=1.0) == pytest.approx((20.0 / 3.0) / 5.0)


def test_aggd_symmetric_and_asymmetric():
    x = gennorm.rvs(1.5, size=100_000, random_state=11)
    alpha, sl, sr = estimate_aggd(x)
    assert alpha == pytest.approx(1.5, rel=0.03)
    assert sl == pytest.approx(sr, rel=0.03)
    # AGGD with beta_left = 2 beta_right: P(x < 0) = 2/3, magnitudes |GGD| scaled per side
    rng = np.random.default_rng(12)
    left = rng.random(x.size) < 2.0 / 3.0
    y = np.where(left, -2.0 * np.abs(x), np.abs(x))
    alpha2, sl2, sr2 = estimate_aggd(y)
    assert alpha2 == pytest.approx(1.5, rel=0.03)
    assert sl2 / sr2 == pytest.approx(2.0, rel=0.03)
    with pytest.raises(ValueError):
        estimate_aggd(np.abs(x))


def test_unknown_method():
    with pytest.raises(ValueError, match="unknown GGD inversion"):
        estimate_ggd_shape(np.arange(5.0), method="spline")


@pytest.mark.parametrize("grid", [(0.03, 10.0, 0.001), (0.2, 10.0, 0.001), (0.2, 3.0, 0.01)])
def test_bucketed_count_equals_searchsorted(grid):
    """The bucketed lookup behind nearest/bracket gives searchsorted's answer everywhere:
    random ratios, every grid ratio and its floating-point neighbours, the ends and beyond."""
    t = GGDTable(*grid)
    r = t.ratio
    rng = np.random.default_rng(2)
    rho = np.concatenate([np.exp(rng.normal(0.8, 1.5, 50_000)), rng.uniform(r[-1], min(r[0], 50.0), 50_000),
                          r, np.nextafter(r, np.inf), np.nextafter(r, -np.inf), (r[1:] + r[:-1]) / 2,
                          [0.0, -1.0, 4 / 3, 1e300, np.inf, -np.inf, r[0] * 2, r[-1] / 2]])
    want = r.size - np.searchsorted(t._ascending, rho, side="left")
    np.testing.assert_array_equal(t._count_ge(rho), want)
    assert t._count_ge(np.array([np.nan] * 100))[0] == 0                # NaN: masked by the callers
