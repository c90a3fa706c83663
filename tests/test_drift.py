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
