"""Saved predictions are keyed by every version of what produced them (benchmark.versioning).

Bumping a method's version (``MethodInfo.version``, an extractor's ``VERSION``, a model's
``TRAINING_VERSION``), editing a preset or an SVR grid, or changing a constructor parameter
recomputes the predictions instead of reusing the saved ones.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.datasets import base as dsbase
from benchmark.datasets.base import DatasetInfo, make_records
from benchmark.methods import base as mbase
from benchmark.methods.base import MethodInfo, RunContext, get_method_info, training_target
from benchmark.runner import RunConfig, _Runner, run

FITS = {"n": 0}


class Brightness:
    """Least squares on mean brightness, with a version and a parameter."""

    TRAINING_VERSION = "1"

    def __init__(self, degree: int = 1, n_jobs: int = 1):
        self.degree = degree
        self.n_jobs = n_jobs

    def fit(self, records):
        FITS["n"] += 1
        x = np.array([np.asarray(Image.open(p)).mean() for p in records["image"]])
        self.coef_ = np.polyfit(x, training_target(records), self.degree)
        return self

    def predict(self, records):
        return np.polyval(self.coef_, [np.asarray(Image.open(p)).mean() for p in records["image"]])


@pytest.fixture
def tiny(tmp_path, use_entries):
    rng = np.random.default_rng(0)
    rows = []
    for c in range(5):
        base = rng.integers(60, 200, size=(8, 8, 3)).astype(np.uint8)
        for lev in range(1, 4):
            p = tmp_path / f"c{c}_l{lev}.png"
            Image.fromarray(np.clip(base + 15 * lev, 0, 255).astype(np.uint8)).save(p)
            rows.append({"image": str(p), "score": float(lev), "content": f"c{c}"})
    rec = make_records(rows, "tiny")
    use_entries(dsbase.DATASETS, DatasetInfo(
        name="tiny", loader=lambda root, **kw: rec, title="tiny", kind="synthetic", builtin=True))
    use_entries(mbase.METHODS, MethodInfo(
        "bright", lambda ctx: Brightness(), "NR", "NR hand-crafted", "classical", trainable=True), only=True)
    FITS["n"] = 0
    return tmp_path


def _run(out):
    run(RunConfig(suite="classical", datasets=["tiny"], out=str(out), n_repeats=2, progress=False, plots=False))


def test_a_version_bump_recomputes_saved_predictions(tiny, monkeypatch, use_entries):
    out = tiny / "out"
    _run(out)
    assert FITS["n"] == 2
    _run(out)
    assert FITS["n"] == 2                                # same code: the saved predictions are reused
    # the built estimator's version constant
    monkeypatch.setattr(Brightness, "TRAINING_VERSION", "2")
    _run(out)
    assert FITS["n"] == 4, "a new TRAINING_VERSION must not reuse the old predictions"
    # the method's own version
    use_entries(mbase.METHODS, MethodInfo(
        "bright", lambda ctx: Brightness(), "NR", "NR hand-crafted", "classical", trainable=True, version="2"))
    _run(out)
    assert FITS["n"] == 6
    # a parameter of the built estimator; a run-time knob (n_jobs) is not part of the key
    use_entries(mbase.METHODS, MethodInfo(
        "bright", lambda ctx: Brightness(degree=2, n_jobs=4), "NR", "NR hand-crafted", "classical",
        trainable=True, version="2"))
    _run(out)
    assert FITS["n"] == 8
    use_entries(mbase.METHODS, MethodInfo(
        "bright", lambda ctx: Brightness(degree=2, n_jobs=1), "NR", "NR hand-crafted", "classical",
        trainable=True, version="2"))
    _run(out)
    assert FITS["n"] == 8


def _fp(tmp_path, name: str, quick: bool = True) -> str:
    info = get_method_info(name)
    test = pd.DataFrame({"image": ["a.png", "b.png"], "score": [1.0, 2.0]})
    r = _Runner(RunConfig(out=str(tmp_path), quick=quick, device="cpu", progress=False))
    method = info.factory(RunContext(quick=quick, device="cpu", cache_dir=None, progress=False))
    return r._fp(info, test, test, 0, method)


def test_fingerprints_of_registered_methods_hold_their_versions(tmp_path, monkeypatch, use_entries):
    import dataclasses

    import features.cornia
    from benchmark.methods import regression
    from features import extraction
    from features.extraction import get_extractor

    before = {m: _fp(tmp_path, m) for m in ("brisque", "cornia", "s3", "psnr")}
    assert _fp(tmp_path, "brisque") == before["brisque"]                 # stable
    monkeypatch.setattr(features.cornia, "VERSION", features.cornia.VERSION + "-next")
    assert _fp(tmp_path, "cornia") != before["cornia"]                   # extractor VERSION
    for name in ("brisque", "cues"):
        ext = get_extractor(name)
        use_entries(extraction.EXTRACTORS, dataclasses.replace(ext, version=ext.version + "-next"))
    assert _fp(tmp_path, "brisque") != before["brisque"]                 # registered extractor's version
    assert _fp(tmp_path, "s3") != before["s3"]                           # a training-free cue
    grid = regression.svr_grid
    monkeypatch.setattr(regression, "svr_grid", lambda kernel="rbf", quick=False: {**grid(kernel, quick),
                                                                                  "svr__C": [0.5]})
    assert _fp(tmp_path, "brisque") != before["brisque"]                 # the SVR grid
    info = get_method_info("psnr")
    use_entries(mbase.METHODS, dataclasses.replace(info, version=info.version + "-next"))
    assert _fp(tmp_path, "psnr") != before["psnr"]                       # MethodInfo.version


def test_fingerprints_of_cnns_hold_training_version_and_preset(tmp_path, monkeypatch):
    pytest.importorskip("torch")
    from deep.models.kang import KangCNN

    before = _fp(tmp_path, "kang_cnn")
    monkeypatch.setattr(KangCNN, "TRAINING_VERSION", KangCNN.TRAINING_VERSION + "-next")
    assert _fp(tmp_path, "kang_cnn") != before
    monkeypatch.undo()
    assert _fp(tmp_path, "kang_cnn") == before
    presets = {k: dict(v) for k, v in KangCNN.PRESETS.items()}
    presets["quick"]["max_epochs"] += 1
    monkeypatch.setattr(KangCNN, "PRESETS", presets)
    assert _fp(tmp_path, "kang_cnn") != before                           # a preset edited in code


def test_describe_leaves_out_run_time_knobs():
    from benchmark.versioning import describe
    from features.cornia import CorniaFeatures

    a = describe(CorniaFeatures(codebook_size=8, n_jobs=1, cache_dir=None, progress=False))
    b = describe(CorniaFeatures(codebook_size=8, n_jobs=4, cache_dir="/elsewhere", progress=True))
    assert a == b and a["versions"]["features.cornia.VERSION"]
    assert describe(CorniaFeatures(codebook_size=16)) != a
