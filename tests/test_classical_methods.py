"""Classical method registrations: metadata, BRISQUE + SVR on generated images of known order, cue scores."""
from __future__ import annotations

import cv2
import numpy as np
import pytest
from PIL import Image
from scipy.stats import spearmanr

from benchmark.datasets.base import make_records
from benchmark.methods import RunContext, build_method, get_method_info, list_methods
from benchmark.methods.regression import FeatureSVR

TRAINED = {"brisque": "BRISQUE", "bliinds2": "BLIINDS-II", "diivine": "DIIVINE",
           "cues": "Cues (S3+FISH+tone+colour)", "cornia": "CORNIA"}
FREE = {"s3": "S3", "fish": "FISH", "colourfulness": "Colourfulness"}
LEVELS = (0.0, 1.0, 2.0, 3.5)        # Gaussian blur sigma: quality falls with the level


@pytest.fixture(scope="module")
def records(tmp_path_factory, astronaut_small):
    """3 contents x 4 blur levels (12 images, 64x64), MOS = 1 - level / 4 (higher is better)."""
    root = tmp_path_factory.mktemp("classical")
    rows = []
    for c, (y, x) in enumerate([(0, 0), (40, 60), (64, 20)]):
        crop = np.ascontiguousarray(astronaut_small[y:y + 64, x:x + 64])
        for lv, sigma in enumerate(LEVELS):
            img = cv2.GaussianBlur(crop, (0, 0), sigma) if sigma else crop
            p = root / f"c{c}_l{lv}.png"
            Image.fromarray(img).save(p)
            rows.append({"image": str(p), "score": 1.0 - lv / 4, "content": f"c{c}", "dist_type": "blur",
                         "dist_level": lv})
    return make_records(rows, "toy")


def test_registry_metadata():
    names = {m.name for m in list_methods("classical", include_unavailable=True)}
    assert set(TRAINED) | set(FREE) <= names
    for name, label in {**TRAINED, **FREE}.items():
        info = get_method_info(name)
        assert (info.kind, info.group, info.suite, info.higher_better) == ("NR", "NR hand-crafted", "classical", True)
        assert info.label == label and info.paper
        assert info.trainable == (name in TRAINED)


def test_brisque_svr_learns_the_blur_order(records, tmp_path):
    """Leave one content out: the SVR, trained on 8 images, orders the held-out blur levels.

    With two training contents one adjacent pair may swap (measured SROCC 1.0, 1.0, 0.8).
    """
    ctx = RunContext(cache_dir=tmp_path, quick=True, progress=False)
    srocc = []
    for held in ("c0", "c1", "c2"):
        model = build_method("brisque", ctx)
        assert isinstance(model, FeatureSVR)
        train, test = records[records.content != held], records[records.content == held]
        pred = model.fit(train).predict(test)
        assert pred.shape == (4,) and np.all(np.isfinite(pred)) and model.failures_ == {}
        srocc.append(spearmanr(pred, test["score"]).statistic)
    assert min(srocc) > 0.79 and np.mean(srocc) > 0.9, srocc          # at most one adjacent swap


def test_feature_methods_use_the_run_context(tmp_path):
    ctx = RunContext(cache_dir=tmp_path, n_jobs=2, quick=True, progress=False)
    for name in ("bliinds2", "diivine", "cues"):
        m = build_method(name, ctx)
        assert m.features.extractor == name and m.features.n_jobs == 2 and m.quick
    cornia = build_method("cornia", ctx)
    assert cornia.kernel == "linear" and cornia.features.codebook_size == 1000
    assert build_method("cornia", RunContext(quick=False)).features.codebook_size == 10000


def test_cue_scores_are_training_free(records, tmp_path):
    ctx = RunContext(cache_dir=tmp_path, progress=False)
    sharp = records[records.content == "c0"]
    for name in ("s3", "fish"):
        m = build_method(name, ctx)
        assert m.fit(records) is m
        pred = m.predict(sharp)
        assert np.all(np.diff(pred) < 0), (name, pred)           # sharper -> higher
    colour = build_method("colourfulness", ctx).predict(records)
    assert np.all(colour > 0)
    from features.cues import colourfulness
    from features.imageio import load_image

    assert colour[0] == pytest.approx(colourfulness(load_image(records.image[0])))
