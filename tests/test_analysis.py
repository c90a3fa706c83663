"""benchmark.analysis: significance, severity, recognition, table shapes, and their place in a run."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.analysis import severity as sev
from benchmark.analysis import significance as sig
from benchmark.methods.base import MethodInfo


def _info(name, group="NR hand-crafted", hb=True):
    return MethodInfo(name, lambda ctx: None, "NR", group, "classical", higher_better=hb, trainable=True,
                      label=name.upper())


def _frame(images, y, pred, content=None, dist_type=None, level=None, thb=True, phb=True):
    n = len(images)
    return pd.DataFrame({"image": images, "content": content if content is not None else [f"c{i}" for i in range(n)],
                         "dist_type": dist_type if dist_type is not None else [""] * n,
                         "dist_level": level if level is not None else [np.nan] * n,
                         "y_true": y, "true_higher_better": thb, "y_pred": pred, "pred_higher_better": phb})


# ----------------------------------------------------------------------------------- significance
def test_holm_by_hand():
    adj = sig.holm([0.01, 0.04, 0.03, 0.005, np.nan])
    np.testing.assert_allclose(adj[:4], [0.03, 0.06, 0.06, 0.02])
    assert np.isnan(adj[4])


def test_wilcoxon_and_corrected_t_by_hand():
    assert sig.wilcoxon_p(np.arange(1, 11) / 100) == pytest.approx(2 / 1024)
    assert sig.wilcoxon_p(np.zeros(5)) == 1.0
    d = np.array([0.02, 0.03, 0.01, 0.04])
    t = d.mean() / np.sqrt((1 / 4 + 0.25) * d.var(ddof=1))
    from scipy import stats
    assert sig.corrected_t_p(d, 0.25) == pytest.approx(2 * stats.t.sf(t, 3))


def _split_metrics(values: dict[str, list[float]]):
    rows = []
    for m, v in values.items():
        for k, s in enumerate(v):
            rows.append({"method": m, "label": m.upper(), "group": "NR hand-crafted", "plan": "within",
                         "train_set": "d", "test_set": "d", "split": f"r{k:02d}", "srocc": s})
    return pd.DataFrame(rows)


def test_split_design_matrix():
    rng = np.random.default_rng(0)
    base = 0.7 + rng.normal(0, 0.02, 10)
    metrics = _split_metrics({"a": list(base + 0.05), "b": list(base), "c": list(base + rng.normal(0, 0.01, 10))})
    pairs = sig.pairwise_tests([], "d", metrics)
    assert set(pairs["design"]) == {"splits"} and len(pairs) == 3
    ab = pairs[(pairs.method_a == "a") & (pairs.method_b == "b")].iloc[0]
    assert ab.p_wilcoxon == pytest.approx(2 / 1024) and ab.p_holm == pytest.approx(3 * 2 / 1024)
    assert ab.decision == 1
    bc = pairs[(pairs.method_a == "b") & (pairs.method_b == "c")].iloc[0]
    assert bc.decision == 0
    M = sig.significance_matrix(pairs, ["a", "b", "c"])
    np.testing.assert_array_equal(M, -M.T)
    assert M[0, 1] == 1 and M[1, 0] == -1 and np.isnan(M[0, 0])
    # three splits can never be significant (smallest p = 0.25)
    few = sig.pairwise_tests([], "d", _split_metrics({"a": [0.9, 0.9, 0.9], "b": [0.1, 0.2, 0.3]}))
    assert few["decision"].tolist() == [0] and few["p_wilcoxon"].iloc[0] == pytest.approx(0.25)


def test_bootstrap_design_on_an_official_split():
    rng = np.random.default_rng(1)
    n = 200
    y = rng.normal(size=n)
    imgs = [f"i{k}" for k in range(n)]
    good = _frame(imgs, y, y + rng.normal(0, 0.5, n))
    bad = _frame(imgs, y, y + rng.normal(0, 3.0, n))
    twin = _frame(imgs, y, good["y_pred"] + 1e-9 * rng.normal(size=n))
    results = [(_info("good"), "within", "d", "d", "official", good), (_info("bad"), "within", "d", "d", "official", bad),
               (_info("twin"), "within", "d", "d", "official", twin)]
    metrics = pd.DataFrame([{"method": m, "plan": "within", "test_set": "d", "split": "official", "srocc": 0.0}
                            for m in ("good", "bad", "twin")])
    pairs = sig.pairwise_tests(results, "d", metrics)
    gb = pairs[(pairs.method_a == "good") & (pairs.method_b == "bad")].iloc[0]
    assert gb.design == "bootstrap" and gb.n == n and gb.ci_low < gb["srocc_diff"] < gb.ci_high and gb.ci_low > 0
    assert gb.decision == 1
    gt = pairs[(pairs.method_a == "good") & (pairs.method_b == "twin")].iloc[0]
    assert gt.decision == 0 and gt.ci_low <= 0 <= gt.ci_high
    # same seed, same numbers
    pd.testing.assert_frame_equal(pairs, sig.pairwise_tests(results, "d", metrics))


def test_bootstrap_srocc_matches_scipy_on_each_draw():
    from scipy import stats
    rng = np.random.default_rng(2)
    p, y = rng.normal(size=30), rng.normal(size=30)
    idx = rng.integers(0, 30, size=(5, 30))
    got = sig.bootstrap_srocc(p, y, idx)
    for k in range(5):
        assert got[k] == pytest.approx(stats.spearmanr(p[idx[k]], y[idx[k]]).statistic, abs=1e-12)


def test_intervals_bracket_the_median():
    rng = np.random.default_rng(3)
    results = []
    for k in range(3):
        y = rng.normal(size=80)
        results.append((_info("m"), "within", "d", "d", f"r{k:02d}", _frame([f"{k}_{i}" for i in range(80)], y,
                                                                            y + rng.normal(0, 1, 80))))
    ci = sig.srocc_intervals(results)
    from scipy import stats
    med = np.median([stats.spearmanr(df.y_pred, df.y_true).statistic for *_, df in results])
    assert ci.iloc[0].srocc_ci_low < med < ci.iloc[0].srocc_ci_high


# ----------------------------------------------------------------------------------- severity
def _levels_frame(pred_fn, reverse_type=False, thb=False):
    rows = []
    for c in range(3):
        for t in ("blur", "jpeg"):
            for lev in range(1, 6):
                level = (6 - lev) if (reverse_type and t == "jpeg") else lev     # e.g. LIVE's bit rate
                rows.append({"image": f"{c}{t}{lev}", "content": f"c{c}", "dist_type": t, "dist_level": float(level),
                             "y_true": float(lev), "true_higher_better": thb, "y_pred": pred_fn(lev, c),
                             "pred_higher_better": True})
    return pd.DataFrame(rows)


@pytest.mark.parametrize("reverse", [False, True])
def test_severity_perfect_random_backwards(reverse):
    rng = np.random.default_rng(0)
    results = [(_info("perfect"), "within", "d", "d", "r00", _levels_frame(lambda lev, c: -lev, reverse)),
               (_info("backwards"), "within", "d", "d", "r00", _levels_frame(lambda lev, c: lev, reverse)),
               (_info("flat"), "within", "d", "d", "r00", _levels_frame(lambda lev, c: 1.0, reverse)),
               (_info("noisy"), "within", "d", "d", "r00",
                _levels_frame(lambda lev, c: -lev + rng.normal(0, 3), reverse))]
    f = sev.severity_frame(results).set_index("method")
    assert f.loc["perfect", "srocc"] == pytest.approx(1) and f.loc["perfect", "acc_step1"] == 1
    assert f.loc["backwards", "srocc"] == pytest.approx(-1) and f.loc["backwards", "acc_step4"] == 0
    assert f.loc["flat", "acc_step1"] == 0.5 and f.loc["flat", "srocc"] == 0
    assert f.loc[sev.SUBJECTIVE, "acc_step1"] == 1          # the DMOS follows the levels exactly
    assert f.loc["perfect", "n_groups"] == 6 and f.loc["perfect", "pairs_step1"] == 6 * 4
    assert f.loc["perfect", "pairs_step4"] == 6
    assert 0 < f.loc["noisy", "acc_step1"] < f.loc["noisy", "acc_step4"] <= 1


def test_severity_skips_frames_without_levels():
    old = _levels_frame(lambda lev, c: -lev).drop(columns="dist_level")      # predictions saved before dist_level
    assert sev.severity_frame([(_info("m"), "within", "d", "d", "r00", old)]).empty


# ----------------------------------------------------------------------------------- recognition
class _Feats:
    """A transformer stand-in: the feature vector is a function of the distortion type in the file name."""

    cache_dir = None

    def transform(self, paths):
        rng = np.random.default_rng(0)
        return np.array([[1.0 if "blur" in p else 0.0, 1.0 if "jpeg" in p else 0.0] for p in paths]) + \
            rng.normal(0, 0.05, (len(paths), 2))


def test_recognition_on_separable_features():
    from benchmark.analysis.recognition import MAJORITY, FeatureSet, recognition_frame
    from benchmark.protocol import content_splits

    rec = pd.DataFrame([{"image": f"/x/{c}_{t}_{lev}.png", "content": f"c{c}", "dist_type": t}
                        for c in range(8) for t in ("blur", "jpeg", "noise") for lev in range(3)])
    splits = content_splits(rec, n_repeats=2, test_size=0.25, seed=0)
    res = recognition_frame({"d": (rec, splits)}, [FeatureSet("f", "F", _Feats(), "x")], cache_only=False)
    acc = res.accuracy.groupby("method")["accuracy"].mean()
    assert acc["f"] == 1.0 and acc[MAJORITY] == pytest.approx(1 / 3)
    conf = res.confusion[res.confusion.method == "f"]
    assert (conf["true"] == conf["predicted"]).all() and conf["count"].sum() == sum(len(s.test) for s in splits)


def test_cached_features_read_the_cache_only(tmp_path, astronaut_small):
    from PIL import Image

    from benchmark.analysis.recognition import FeatureSet, cached_features
    from features.extraction import ImageFeatures

    paths = []
    for k in range(3):
        p = tmp_path / f"{k}.png"
        Image.fromarray(np.roll(astronaut_small, 7 * k, axis=0)).save(p)
        paths.append(str(p))
    t = ImageFeatures("cues", cache_dir=tmp_path / "cache")
    fs = FeatureSet("cues", "Cues", t, "extractor")
    assert cached_features(fs, paths) is None                     # nothing cached: the set is left out
    X = t.transform(paths[:2])                                    # the run cached two of the three images
    got = cached_features(fs, paths)
    np.testing.assert_array_equal(got[:2], X)
    assert np.isnan(got[2]).all()


# ----------------------------------------------------------------------------------- table shapes
def test_cross_per_distortion_and_tid_groups():
    from benchmark.analysis.shapes import (
        cross_per_distortion_tables,
        tid2013_group_table,
    )

    rng = np.random.default_rng(0)
    y = rng.normal(size=60)
    types = np.repeat(["jpeg", "jpeg2000", "contrast"], 20)
    test = _frame([f"b{i}" for i in range(60)], y, y + rng.normal(0, 0.3, 60), dist_type=types)
    train_within = _frame([f"a{i}" for i in range(40)], y[:40], y[:40], dist_type=np.repeat(["jpeg", "jpeg2000"], 20))
    results = [(_info("m"), "within", "A", "A", "r00", train_within), (_info("m"), "one-vs-one", "A", "B", "all", test)]
    (stem, t, _), = cross_per_distortion_tables(results)
    assert stem == "cross_per_distortion_A__B"
    cols = [c for c, _ in t.columns]
    assert cols[:4] == ["jpeg", "jpeg2000", "shared (2)", "ALL"] and "contrast" not in cols
    from scipy import stats
    want = stats.spearmanr(test.y_pred[:20], test.y_true[:20]).statistic
    assert t.values[0, 0] == pytest.approx(want)
    assert tid2013_group_table(results) is None
    from benchmark.datasets.adapters.tid2013 import DISTORTION_NAMES
    tid = _frame([f"t{i}" for i in range(48)], np.tile(np.arange(2.0), 24), np.tile(np.arange(2.0), 24),
                 dist_type=[DISTORTION_NAMES[k] for k in range(1, 25) for _ in range(2)])
    _, g, _ = tid2013_group_table([(_info("m"), "within", "tid2013", "tid2013", "r00", tid)])
    assert [c for c, _ in g.columns] == ["Noise", "Actual", "Simple", "Exotic", "New", "Color", "Full"]
    assert np.allclose(g.values, 1.0)


def test_lodo_best_row():
    from benchmark.tables import lodo_best_table

    rows = [("m1", "lodo", "rest", "A", 0.5), ("m2", "lodo", "rest", "A", 0.6),
            ("m1", "one-vs-one", "B", "A", 0.7), ("m2", "one-vs-one", "C", "A", 0.8)]
    summary = pd.DataFrame([{"method": m, "label": m.upper(), "group": "NR deep", "plan": p, "train_set": tr,
                             "test_set": te, "plcc_median": v, "srocc_median": v} for m, p, tr, te, v in rows])
    t = lodo_best_table(summary)
    assert t.row_labels == ["M1", "M2", "Best one-vs-one"]
    np.testing.assert_allclose(t.values[:, 0], [0.5, 0.6, 0.8])
    assert "M2 trained on C" in t.notes[0]


# ----------------------------------------------------------------------------------- in a run
def test_run_writes_the_analyses(tmp_path, use_entries):
    from test_runner import Brightness, make_tiny

    from benchmark.datasets import base as dsbase
    from benchmark.datasets.base import DatasetInfo
    from benchmark.methods import base as mbase
    from benchmark.methods.regression import FeatureSVR
    from benchmark.runner import RunConfig, run
    from features.extraction import ImageFeatures

    data = tmp_path / "data"
    data.mkdir()
    rec = make_tiny(data, n_content=8, corrupt=False)
    use_entries(dsbase.DATASETS, DatasetInfo(
        name="tiny", loader=lambda root, **kw: rec, title="tiny", kind="synthetic", builtin=True, higher_better=False))
    use_entries(mbase.METHODS,
                MethodInfo("bright", lambda ctx: Brightness(), "NR", "NR hand-crafted", "classical",
                           trainable=True, label="Brightness"),
                MethodInfo("cues_svr", lambda ctx: FeatureSVR(ImageFeatures("brisque", cache_dir=ctx.cache_dir),
                                                              quick=True),
                           "NR", "NR hand-crafted", "classical", trainable=True, label="BrisqueSVR"), only=True)
    out = tmp_path / "out"
    run(RunConfig(suite="classical", datasets=["tiny"], out=str(out), n_repeats=3, progress=False,
                  cache_dir=str(tmp_path / "cache")))
    for name in ("analyses.md", "analyses.tex", "analyses.json", "severity.csv", "recognition.csv",
                 "recognition_confusion.csv", "tables/significance_tiny.md", "tables/significance_tiny.tex",
                 "tables/significance_tiny.csv", "tables/severity.md", "tables/severity.csv",
                 "tables/recognition.md", "tables/recognition.tex", "plots/severity_tiny.png",
                 "plots/recognition_tiny.png"):
        assert (out / name).exists(), name
    summary = pd.read_csv(out / "summary.csv")
    w = summary[summary.plan == "within"]
    assert (w["srocc_ci_low"] <= w["srocc_median"] + 1e-9).all() and (w["srocc_median"] <= w["srocc_ci_high"] + 1e-9).all()
    md = (out / "analyses.md").read_text()
    assert "Significance matrix on tiny" in md and "no pair can be significant" in md
    assert "BrisqueSVR" in (out / "tables" / "recognition.md").read_text()
    assert "nan" not in md.lower()


def test_recognition_is_memoised_in_the_cache(tmp_path, monkeypatch):
    """A re-run over the same features reads each split's predictions back (a cached re-run trains
    no classifier); other features are not confused with them."""
    from benchmark.analysis import recognition as recog
    from benchmark.protocol import content_splits

    class Cached(_Feats):
        cache_dir = str(tmp_path / "cache")

    rec = pd.DataFrame([{"image": f"/x/{c}_{t}_{lev}.png", "content": f"c{c}", "dist_type": t}
                        for c in range(8) for t in ("blur", "jpeg", "noise") for lev in range(3)])
    splits = content_splits(rec, n_repeats=2, test_size=0.25, seed=0)
    calls = []
    real = recog.recognise
    monkeypatch.setattr(recog, "recognise", lambda *a, **k: calls.append(1) or real(*a, **k))
    sets = [recog.FeatureSet("f", "F", Cached(), "x")]
    first = recog.recognition_frame({"d": (rec, splits)}, sets, cache_only=False)
    assert len(calls) == 2
    again = recog.recognition_frame({"d": (rec, splits)}, sets, cache_only=False)
    assert len(calls) == 2                                            # both splits read back
    pd.testing.assert_frame_equal(first.accuracy, again.accuracy)
    pd.testing.assert_frame_equal(first.confusion, again.confusion)
    other = recog.recognition_frame({"d": (rec, splits)}, sets, cache_only=False, seed=1)
    assert len(calls) == 4 and len(other.accuracy) == len(first.accuracy)


def test_significance_leaves_out_methods_without_results():
    """A method that failed on every split (NaN SROCC) is neither tested nor shown as 'not different'."""
    from benchmark.analysis.render import significance_tables

    rng = np.random.default_rng(0)
    metrics = _split_metrics({"a": list(0.7 + rng.normal(0, 0.02, 10)), "b": list(0.6 + rng.normal(0, 0.02, 10)),
                              "dead": [np.nan] * 10})
    pairs = sig.pairwise_tests([], "d", metrics)
    assert set(pairs["method_a"]) | set(pairs["method_b"]) == {"a", "b"}
    (stem, table, frame), = significance_tables([], metrics, {})
    assert "DEAD" not in table.to_markdown() and "A" in table.to_markdown()


def test_analysis_context_keeps_the_run_offline():
    from benchmark.analysis.render import _context

    assert _context({"offline": True}).offline is True
    assert _context({}).offline is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_recognition_search_is_gridsearchcv(seed):
    """``RBFSVCSearch`` (precomputed kernels shared across C) = ``GridSearchCV`` over scaler + RBF SVC."""
    from sklearn.model_selection import GridSearchCV, GroupKFold
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import StandardScaler
    from sklearn.svm import SVC

    from benchmark.analysis.recognition import C_GRID, RBFSVCSearch

    rng = np.random.default_rng(seed)
    n, d = 120, 40
    labels = np.array(["blur", "jpeg", "noise", "wn"])[rng.integers(0, 4, n)]
    groups = np.arange(n) // 6
    centres = rng.normal(size=(4, d))
    X = (centres[np.searchsorted(["blur", "jpeg", "noise", "wn"], labels)] * 0.6 + rng.normal(size=(n, d))) \
        * rng.uniform(0.1, 30.0, d) + 5.0
    tr, te = np.arange(90), np.arange(90, n)
    pipe = Pipeline([("scale", StandardScaler()), ("svc", SVC(kernel="rbf", gamma="scale"))])
    ref = GridSearchCV(pipe, {"svc__C": list(C_GRID)}, cv=GroupKFold(5), scoring="accuracy", error_score=np.nan)
    ref.fit(X[tr], labels[tr], groups=groups[tr])
    new = RBFSVCSearch(cv=5).fit(X[tr], labels[tr], groups[tr])
    np.testing.assert_allclose(new.mean_test_score_, ref.cv_results_["mean_test_score"], rtol=0, atol=1e-12)
    assert new.best_index_ == ref.best_index_ and new.best_params_["C"] == ref.best_params_["svc__C"]
    np.testing.assert_array_equal(new.predict(X[te]), ref.predict(X[te]))
    assert len(set(ref.cv_results_["mean_test_score"])) > 1        # the choice is not a tie


def test_recognition_search_fold_with_one_class_scores_nan():
    from benchmark.analysis.recognition import RBFSVCSearch

    rng = np.random.default_rng(0)
    labels = np.array(["a"] * 20 + ["b"] * 4)
    groups = np.array([0] * 10 + [1] * 10 + [2] * 4)       # fold without group 2: one class to train on
    X = rng.normal(size=(24, 3)) + (labels == "b")[:, None] * 3.0
    s = RBFSVCSearch(cv=3).fit(X, labels, groups)
    assert np.isnan(s.mean_test_score_).all() and s.best_index_ == 0
    assert set(s.predict(X)) <= {"a", "b"}
