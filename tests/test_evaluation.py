"""Correlation metrics against scipy, sign handling, and the logistic fits on known data."""
import numpy as np
import pytest
from scipy import stats

from benchmark.evaluation import (evaluate, fit_logistic, krocc, logistic4, logistic5, plcc, rmse, srocc)


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    x = rng.normal(size=200)
    y = np.tanh(x) + 0.3 * rng.normal(size=200)
    return x, y


def test_correlations_match_scipy(xy):
    x, y = xy
    assert srocc(x, y) == pytest.approx(stats.spearmanr(x, y)[0], abs=1e-12)
    assert krocc(x, y) == pytest.approx(stats.kendalltau(x, y)[0], abs=1e-12)
    assert plcc(x, y) == pytest.approx(stats.pearsonr(x, y)[0], abs=1e-12)
    assert rmse(x, y) == pytest.approx(np.sqrt(np.mean((x - y) ** 2)), abs=1e-12)


def test_sign_handling_gives_positive_correlation_for_good_predictor(xy):
    x, y = xy
    base = evaluate(y, x)
    assert base["srocc"] > 0.5
    # DMOS (lower is better) with a higher-is-better predictor
    r1 = evaluate(-y, x, true_higher_better=False, pred_higher_better=True)
    # MOS with a lower-is-better predictor (a distance such as GMSD)
    r2 = evaluate(y, -x, true_higher_better=True, pred_higher_better=False)
    # both lower-is-better
    r3 = evaluate(-y, -x, true_higher_better=False, pred_higher_better=False)
    for r in (r1, r2, r3):
        assert r["srocc"] == pytest.approx(base["srocc"], abs=1e-12)
        assert r["plcc"] == pytest.approx(base["plcc"], abs=1e-6)
    # a predictor that ranks backwards is negative
    assert evaluate(y, -x)["srocc"] == pytest.approx(-base["srocc"], abs=1e-12)


def test_logistic5_fit_recovers_known_curve():
    rng = np.random.default_rng(1)
    x = np.sort(rng.uniform(0, 100, 300))
    true = (8.0, 0.1, 50.0, 0.02, 3.0)
    y = logistic5(x, *true) + rng.normal(scale=0.05, size=x.size)
    fit = fit_logistic(x, y, "logistic5")
    assert fit.kind == "logistic5"
    resid = fit(x) - logistic5(x, *true)
    assert np.sqrt(np.mean(resid ** 2)) < 0.03
    # the mapped PLCC approaches 1 while raw PLCC is visibly lower on this curved relation
    r = evaluate(y, x)
    assert r["plcc"] > 0.99
    assert r["plcc_raw"] < r["plcc"]
    assert r["rmse"] == pytest.approx(np.sqrt(np.mean((fit(x) - y) ** 2)), rel=1e-6)


def test_logistic4_fit_recovers_known_curve():
    rng = np.random.default_rng(2)
    x = rng.uniform(-3, 3, 300)
    y = logistic4(x, 5.0, 1.0, 0.5, 0.7) + rng.normal(scale=0.02, size=x.size)
    fit = fit_logistic(x, y, "logistic4")
    assert fit.kind == "logistic4"
    assert np.max(np.abs(fit(x) - logistic4(x, 5.0, 1.0, 0.5, 0.7))) < 0.05
    assert evaluate(y, x, mapping="logistic4")["plcc"] > 0.995


def test_decreasing_relation_is_fitted_too():
    x = np.linspace(0, 1, 50)
    y = 1 - x ** 2
    fit = fit_logistic(x, y)
    assert np.corrcoef(fit(x), y)[0, 1] > 0.99


def test_constant_prediction_is_zero_not_nan():
    r = evaluate([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5])
    assert r["srocc"] == 0.0 and r["plcc"] == 0.0 and r["mapping"] == "constant"


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="length mismatch"):
        srocc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-finite"):
        evaluate([1, 2, 3, 4], [1, np.nan, 3, 4])
    with pytest.raises(ValueError, match="mapping"):
        fit_logistic([1, 2, 3, 4], [1, 2, 3, 4], "cubic")
