"""Score-drift regression tests against the golden values in results/reference/.

A failure means a metric, an extractor or the quick suite now gives different numbers
than when the goldens were written.  If the change is deliberate, regenerate them with
``python -m benchmark goldens --update`` and review ``git diff results/reference``.
Tolerances are in :data:`benchmark.goldens.TOLERANCES`.
"""
import pandas as pd
import pytest

from benchmark import goldens

REF = goldens.REFERENCE_DIR


@pytest.fixture(scope="module")
def images():
    if not (REF / "per_image_metrics.csv").exists():
        pytest.fail(f"no golden values in {REF}; run `python -m benchmark goldens --update`")
    imgs = goldens.golden_images(goldens.SHARED if goldens.SHARED.exists() else None)
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
                                            goldens.TOLERANCES.get(m, goldens.TOLERANCES["default_metric"]))
    assert not problems, "\n".join(problems)


@pytest.mark.parametrize("name", sorted(p.stem[len("features_"):] for p in REF.glob("features_*.csv")))
def test_features_do_not_drift(images, name):
    g = pd.read_csv(REF / f"features_{name}.csv")
    g = g[g["id"].isin(_ids(images))]
    now = goldens.compute_features(images, [name])[name]
    cols = [c for c in g.columns if c != "id"]
    problems = goldens._compare_frames(name, g, now, "id", cols, 1e-8, goldens.TOLERANCES["default_feature_rel"])
    assert not problems, "\n".join(problems)


def test_quick_table_does_not_drift(tmp_path):
    """The ``--suite all --quick`` table on synth (no --weights) against ``quick_table.csv``.

    Tolerances per kind of method (:func:`benchmark.goldens.quick_tolerance`): training-free
    metrics 1e-3, SVR methods 0.01, CNNs trained on the CPU 0.05.  About 100 s on 2 cores.
    """
    path = REF / "quick_table.csv"
    if not path.exists():
        pytest.fail(f"no quick-table golden in {REF}; run `python -m benchmark goldens --update`")
    golden = pd.read_csv(path)
    now = goldens.compute_quick_table(tmp_path)
    problems = goldens.compare_quick_table(golden, now)
    assert not problems, "\n".join(problems)
    # the rows that must be there: every training-free and classical method runs without weights
    assert {"psnr", "ssim", "fsimc", "brisque", "bliinds2", "diivine", "cornia", "kang_cnn"} <= set(golden["method"])


def test_quick_table_comparison_flags_drift_beyond_each_tolerance():
    golden = pd.read_csv(REF / "quick_table.csv")
    assert not goldens.compare_quick_table(golden, golden.copy())
    moved = golden.copy()
    i = int(moved.index[moved["method"] == "psnr"][0])
    moved.loc[i, "srocc_median"] += 2e-3                     # training-free: 1e-3
    j = int(moved.index[moved["method"] == "kang_cnn"][0])
    moved.loc[j, "plcc_median"] += 0.04                      # CNN: within 0.05
    problems = goldens.compare_quick_table(golden, moved)
    assert len(problems) == 1 and "psnr" in problems[0]
    gone = goldens.compare_quick_table(golden, golden[golden["method"] != "brisque"])
    assert any("brisque" in p and "missing" in p for p in gone)
