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


def test_constant_prediction_is_undefined_not_zero():
    # an undefined correlation is NaN (left out of aggregates), never a 0.0 that would enter a median
    r = evaluate([1.0, 2.0, 3.0, 4.0], [0.5, 0.5, 0.5, 0.5])
    assert r["mapping"] == "undefined"
    assert all(np.isnan(r[k]) for k in ("srocc", "krocc", "plcc", "plcc_raw", "rmse"))


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="length mismatch"):
        srocc([1, 2, 3], [1, 2])
    with pytest.raises(ValueError, match="non-finite"):
        evaluate([1, 2, 3, 4], [1, np.nan, 3, 4])
    with pytest.raises(ValueError, match="mapping"):
        fit_logistic([1, 2, 3, 4], [1, 2, 3, 4], "cubic")


def test_random_predictors_do_not_get_an_inflated_plcc():
    # Issue 13: a monotonic logistic placed on a predictor near chance turns it into the best of many
    # steps; against 5 severity levels (n = 70) 200 random predictors got mean |PLCC| 0.215 against
    # mean |SROCC| 0.106.  The logistic is now fitted only when the predictor is monotonic beyond chance.
    rng = np.random.default_rng(0)
    levels = np.repeat(np.arange(1.0, 6.0), 14)
    plccs, sroccs = [], []
    for _ in range(200):
        r = evaluate(levels, rng.normal(size=70), true_higher_better=False)
        plccs.append(abs(r["plcc"]))
        sroccs.append(abs(r["srocc"]))
    assert np.mean(plccs) <= 1.25 * np.mean(sroccs) + 0.02


def test_plain_plcc_beside_the_mapped_one_and_the_mapping_says_which():
    rng = np.random.default_rng(3)
    levels = np.repeat(np.arange(1.0, 6.0), 14)
    noise = rng.normal(size=70)
    r = evaluate(levels, noise)
    assert abs(r["srocc"]) < 0.2 and r["mapping"] == "linear"      # not monotonic beyond chance: a line
    assert r["plcc"] == pytest.approx(r["plcc_raw"], abs=1e-12)
    good = evaluate(levels, np.exp(levels) + 0.5 * noise)           # monotonic, curved
    assert good["mapping"] == "logistic5" and good["plcc"] > good["plcc_raw"]
    assert evaluate(levels, noise, monotonic_alpha=None)["mapping"] != "linear"   # the papers' always-fit


def test_metric_rows_mark_undefined_and_failed_splits():
    import pandas as pd

    from benchmark.evaluation import metric_rows
    from benchmark.methods.base import MethodInfo
    from benchmark.tables import summarise

    info = MethodInfo("m", lambda ctx: None, "NR", "NR hand-crafted", "classical", trainable=True, label="M")
    y = np.arange(10.0)

    def frame(pred):
        return pd.DataFrame({"image": [f"i{k}" for k in range(10)], "content": "c", "dist_type": "",
                             "y_true": y, "true_higher_better": True, "y_pred": pred, "pred_higher_better": True})

    results = [(info, "within", "d", "d", "r00", frame(y + 0.1 * np.sin(y))),
               (info, "within", "d", "d", "r01", frame(np.full(10, 2.0))),          # constant: undefined
               (info, "within", "d", "d", "r02", frame(np.full(10, np.nan))),       # every image failed
               (info, "within", "d", "d", "r03", frame(2 * y))]
    failed = [{"method": "m", "label": "M", "group": "NR hand-crafted", "kind": "NR", "plan": "within",
               "train_set": "d", "test_set": "d", "split": "r04", "reason": "RuntimeError: out of memory"}]
    m, _ = metric_rows(results, failed=failed)
    assert m["status"].tolist() == ["ok", "undefined", "failed", "ok", "failed"]
    assert m.loc[1, "reason"] == "constant predictions" and np.isnan(m.loc[1, "srocc"])
    assert m.loc[2, "reason"] == "all 10 test images failed" and m.loc[2, "n_failed"] == 10
    s = summarise(m).iloc[0]
    # only the two defined splits are aggregated (SROCC 1.0 twice): no 0.0 from the undefined one
    assert s["n_splits"] == 2 and s["srocc_mean"] == pytest.approx(1.0) and s["srocc_median"] == pytest.approx(1.0)
    assert (s["n_undefined"], s["n_failed_splits"], s["n_attempted"]) == (1, 2, 5)
    assert s["splits"] == "r00,r03"


def test_metric_rows_read_a_memo_back_bit_for_bit(tmp_path, monkeypatch):
    """A cached re-run fits no mapping again: every evaluate() result comes from the memo the first
    run wrote, and the frames are identical; other predictions miss the memo."""
    import pandas as pd

    from benchmark import evaluation as ev
    from benchmark.methods.base import MethodInfo

    info = MethodInfo("m", lambda ctx: None, "NR", "NR hand-crafted", "classical", trainable=True, label="M")
    rng = np.random.default_rng(0)
    y = np.repeat(np.arange(1.0, 6.0), 8)

    def frame(pred):
        return pd.DataFrame({"image": [f"i{k}" for k in range(len(y))], "content": "c",
                             "dist_type": np.tile(["blur", "noise"], len(y) // 2), "y_true": y,
                             "true_higher_better": False, "y_pred": pred, "pred_higher_better": True})

    results = [(info, "within", "d", "d", f"r{k:02d}", frame(-np.exp(y / 2) + rng.normal(0, 0.3, len(y))))
               for k in range(3)]
    calls = []
    real = ev.evaluate
    monkeypatch.setattr(ev, "evaluate", lambda *a, **k: calls.append(1) or real(*a, **k))
    used: dict = {}
    m1, t1 = ev.metric_rows(results, memo={}, used=used)
    first = len(calls)
    assert first > 3 and len(used) == first
    ev.save_metrics_memo(tmp_path, used)
    memo = ev.load_metrics_memo(tmp_path)["entries"]
    used2: dict = {}
    m2, t2 = ev.metric_rows(results, memo=memo, used=used2)
    assert len(calls) == first and used2.keys() == used.keys()
    pd.testing.assert_frame_equal(m1, m2)
    pd.testing.assert_frame_equal(t1, t2)
    m3, _ = ev.metric_rows([(info, "within", "d", "d", "r00", frame(y.copy()))], memo=memo, used={})
    assert len(calls) > first                                     # other predictions: computed
    assert ev.load_metrics_memo(tmp_path / "nowhere") == {}


@pytest.mark.parametrize("with_memo", [False, True])
def test_metric_rows_in_processes_are_the_sequential_rows(with_memo):
    """``n_jobs=2`` evaluates what the memo lacks in worker processes first: same rows, same bits, same memo."""
    import pandas as pd

    from benchmark import evaluation as ev
    from benchmark.methods.base import MethodInfo

    info = MethodInfo("m", lambda ctx: None, "NR", "NR hand-crafted", "classical", trainable=True, label="M")
    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(1.0, 7.0), 10)
    types = np.tile(["blur", "noise", "jpeg"], len(y) // 3)
    results = [(info, "within", "d", "d", f"r{k:02d}",
                pd.DataFrame({"image": [f"i{j}" for j in range(len(y))], "content": "c", "dist_type": types,
                              "y_true": y, "true_higher_better": True, "y_pred": np.tanh(y / 3 + rng.normal(0, 0.4, len(y))),
                              "pred_higher_better": True}))
               for k in range(4)]
    memo0 = {}
    if with_memo:                      # one split already in the memo: only the others are computed
        ev.metric_rows(results[:1], memo={}, used=memo0)
    used1: dict = {}
    used2: dict = {}
    m1, t1 = ev.metric_rows(results, memo=dict(memo0) if with_memo else None, used=used1 if with_memo else None)
    m2, t2 = ev.metric_rows(results, memo=dict(memo0) if with_memo else None, used=used2 if with_memo else None,
                            n_jobs=2)
    assert m1["plcc"].notna().all() and len(t1) == 12
    pd.testing.assert_frame_equal(m1, m2, check_exact=True)
    pd.testing.assert_frame_equal(t1, t2, check_exact=True)
    assert used1 == used2
