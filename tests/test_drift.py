"""Score-drift regression tests against the golden values in benchmark/reference/.

A failure means a metric, an extractor, the SVR, a CNN's forward pass or training step, or the
quick suite now gives different numbers than when the goldens were written.  If the change is
deliberate, regenerate them with ``python -m benchmark goldens --update`` and review
``git diff benchmark/reference``.  What is pinned and why each tolerance is what it is:
:mod:`benchmark.goldens`.
"""
import pandas as pd
import pytest

from benchmark import goldens

REF = goldens.REFERENCE_DIR
TOL = goldens.TOLERANCES


@pytest.fixture(scope="module")
def images():
    if not (REF / "per_image_metrics.csv").exists():
        pytest.fail(f"no golden values in {REF}; run `python -m benchmark goldens --update`")
    imgs = goldens.golden_images(goldens.find_shared())
    have = set(pd.read_csv(REF / "images.csv")["id"])
    return imgs[imgs["id"].isin(have)]


def _ids(images):
    return set(images["id"])


def test_golden_image_set_is_complete(images):
    ids = set(pd.read_csv(REF / "images.csv")["id"])
    synth = {i for i in ids if i.startswith("synth/")}
    assert len(synth) == 21 and synth <= _ids(images)


def test_training_free_metrics_do_not_drift(images):
    golden = pd.read_csv(REF / "per_image_metrics.csv")
    golden = golden[golden["id"].isin(_ids(images))]
    now = goldens.compute_per_image(images, set(golden["method"]))
    problems = []
    for m, g in golden.groupby("method"):
        problems += goldens._compare_frames(m, g, now[now["method"] == m], "id", ["value"],
                                            TOL.get(m, TOL["default_metric"]))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(p.stem[len("features_"):] for p in REF.glob("features_*.csv")))
def test_features_do_not_drift(images, name):
    g = pd.read_csv(REF / f"features_{name}.csv")
    g = g[g["id"].isin(_ids(images))]
    now = goldens.compute_features(images, [name])[name]
    cols = [c for c in g.columns if c != "id"]
    problems = goldens._compare_frames(name, g, now, "id", cols, 1e-8, TOL["default_feature_rel"])
    assert not problems, "\n".join(problems)


def test_svr_predictions_do_not_drift():
    golden = pd.read_csv(REF / "svr_predictions.csv", keep_default_na=False, na_values=[""])
    problems = goldens.compare_long(golden, goldens.compute_svr(), "case", TOL["svr_prediction"])
    assert not problems, "\n".join(problems)
    assert set(golden["case"]) == {"rbf/quick", "rbf/full", "linear/quick", "linear/full"}


def test_cnn_forward_passes_do_not_drift(images):
    pytest.importorskip("torch")
    golden = pd.read_csv(REF / "cnn_forward.csv")
    problems = goldens.compare_long(golden, goldens.compute_cnn_forward(images), "method", 1e-6, TOL["cnn_rel"])
    assert not problems, "\n".join(problems)


def test_cnn_training_step_does_not_drift(images):
    pytest.importorskip("torch")
    golden = pd.read_csv(REF / "cnn_train_step.csv")
    now = goldens.compute_cnn_train_step(images)
    problems = goldens.compare_long(golden, now, "method", 1e-6, TOL["cnn_rel"])
    assert not problems, "\n".join(problems)
    assert {"kang_cnn", "deepiqa_nr_patchwise", "deepiqa_nr_weighted", "deepiqa_fr_weighted", "kim_cnn",
            "yang_siamese"} <= set(golden["method"])


def test_quick_table_does_not_drift(tmp_path):
    """The pinned rows of ``--suite all --quick`` on synth against ``quick_table.csv``.

    Training-free metrics (1e-3) and features + SVR (3e-3); the CNN rows are not pinned (their
    computation is, above).  See :mod:`benchmark.goldens` for why.
    """
    path = REF / "quick_table.csv"
    if not path.exists():
        pytest.fail(f"no quick-table golden in {REF}; run `python -m benchmark goldens --update`")
    golden = pd.read_csv(path)
    assert set(golden["method"]) == set(goldens.quick_table_methods())
    now = goldens.compute_quick_table(tmp_path)
    problems = goldens.compare_quick_table(golden, now)
    assert not problems, "\n".join(problems)
    assert {"psnr", "ssim", "fsimc", "brisque", "bliinds2", "diivine", "cornia"} <= set(golden["method"])


def test_quick_table_comparison_flags_drift_beyond_each_tolerance():
    golden = pd.read_csv(REF / "quick_table.csv")
    assert not goldens.compare_quick_table(golden, golden.copy())
    moved = golden.copy()
    i = int(moved.index[moved["method"] == "psnr"][0])
    moved.loc[i, "srocc_median"] += 2e-3                     # training-free: 1e-3
    j = int(moved.index[moved["method"] == "brisque"][0])
    moved.loc[j, "plcc_median"] += 2e-3                      # SVR: within 3e-3
    k = int(moved.index[moved["method"] == "cornia"][0])
    moved.loc[k, "srocc_median"] -= 0.15                     # the old CORNIA drift
    problems = goldens.compare_quick_table(golden, moved)
    assert len(problems) == 2 and any("psnr" in p for p in problems) and any("cornia" in p for p in problems)
    gone = goldens.compare_quick_table(golden, golden[golden["method"] != "brisque"])
    assert any("brisque" in p and "missing" in p for p in gone)
    with pytest.raises(ValueError, match="not pinned"):
        goldens.quick_tolerance("kim_cnn")


def test_long_comparison_flags_moved_values_and_notes():
    g = pd.DataFrame({"case": ["a", "a", "b"], "id": ["best/svr__gamma", "pred/000", "pred/000"],
                      "value": [float("nan"), 1.0, 2.0], "note": ["scale", "", ""]})
    assert not goldens.compare_long(g, g.copy(), "case", 1e-6)
    n = g.copy()
    n.loc[1, "value"] += 1e-3
    n.loc[0, "note"] = "auto"
    problems = goldens.compare_long(g, n, "case", 1e-6)
    assert len(problems) == 2
    assert goldens.compare_long(g, g[g["case"] == "a"], "case", 1e-6) == ["b: missing now"]
