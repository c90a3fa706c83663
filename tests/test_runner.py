"""The runner end to end on a tiny registered dataset with stand-in methods.

The stand-ins keep this test independent of the real metrics: a training-free
FR "mean absolute difference" and a trainable NR least-squares fit on mean
brightness.  The checks are about the runner: plans, files, resume, failures.
"""
from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from benchmark.datasets import base as dsbase
from benchmark.datasets.base import DatasetInfo, make_records
from benchmark.methods import base as mbase
from benchmark.methods.base import MethodInfo, training_target
from benchmark.runner import RunConfig, run
from features.imageio import ImageError, load_image

CALLS = {"mad": 0, "fit": 0}


class MAD:
    """Mean absolute difference to the reference (lower is better)."""

    def fit(self, records):
        return self

    def predict(self, records):
        out, self.failures_ = [], {}
        for img, ref in zip(records["image"], records["ref"]):
            CALLS["mad"] += 1
            try:
                out.append(float(np.abs(load_image(img).astype(float) - load_image(ref).astype(float)).mean()))
            except ImageError as exc:
                self.failures_[img] = exc.reason
                out.append(np.nan)
        return np.array(out)


def _brightness(paths, failures):
    out = []
    for p in paths:
        try:
            out.append(load_image(p).mean())
        except ImageError as exc:
            failures[p] = exc.reason
            out.append(np.nan)
    return np.array(out)


class Brightness:
    def fit(self, records):
        CALLS["fit"] += 1
        x = _brightness(records["image"], {})
        ok = np.isfinite(x)
        self.coef_ = np.polyfit(x[ok], training_target(records)[ok], 1)
        return self

    def predict(self, records):
        self.failures_ = {}
        return np.polyval(self.coef_, _brightness(records["image"], self.failures_))


class Broken:
    def fit(self, records):
        raise RuntimeError("weights not found")

    def predict(self, records):
        raise AssertionError("never reached")


def make_tiny(root, n_content=6, levels=4, corrupt=True):
    rng = np.random.default_rng(0)
    rows = []
    for c in range(n_content):
        base = rng.integers(60, 200, size=(16, 16, 3)).astype(np.uint8)
        ref = root / f"ref{c}.png"
        Image.fromarray(base).save(ref)
        for lev in range(1, levels + 1):
            noisy = np.clip(base + rng.normal(0, 12 * lev, base.shape), 0, 255).astype(np.uint8)
            p = root / f"c{c}_l{lev}.png"
            Image.fromarray(noisy).save(p)
            rows.append({"image": str(p), "ref": str(ref), "score": float(lev), "higher_better": False,
                         "dist_type": "white_noise" if lev % 2 else "other", "dist_level": lev,
                         "content": f"c{c}"})
    if corrupt:
        (root / "c0_l4.png").write_bytes(b"\x89PNG\r\n\x1a\n truncated")
    return make_records(rows, "tiny")


@pytest.fixture
def tiny(tmp_path, use_entries):
    data = tmp_path / "data"
    data.mkdir()
    rec = make_tiny(data)
    use_entries(dsbase.DATASETS, DatasetInfo(
        name="tiny", loader=lambda root, **kw: rec, title="tiny", kind="synthetic", builtin=True,
        higher_better=False))
    use_entries(mbase.METHODS,
                MethodInfo("mad", lambda ctx: MAD(), "FR", "FR", "fr", higher_better=False, label="MAD"),
                MethodInfo("bright", lambda ctx: Brightness(), "NR", "NR hand-crafted", "classical",
                           trainable=True, label="Brightness"),
                MethodInfo("broken", lambda ctx: Broken(), "NR", "NR deep", "deep", trainable=True), only=True)
    CALLS.update(mad=0, fit=0)
    return tmp_path


def test_run_writes_tables_and_resumes(tiny):
    out = tiny / "out"
    cfg = RunConfig(suite="all", datasets=["tiny"], out=str(out), n_repeats=3, progress=False)
    res = run(cfg)
    # every file the README promises
    for name in ("tables.md", "tables.tex", "metrics.csv", "metrics.json", "summary.csv", "failures.csv",
                 "run.json", "per_distortion.csv", "plots/scatter_tiny.png", "plots/srocc_tiny.png"):
        assert (out / name).exists(), name
    md = (out / "tables.md").read_text()
    assert "MAD" in md and "Brightness" in md and "nan" not in md.lower()
    m = res.metrics
    assert set(m["method"]) == {"mad", "bright", "broken"}    # the failed method keeps its rows
    assert len(m[m.method == "bright"]) == 3                  # one row per split
    mad = m[m.method == "mad"]
    assert (mad["srocc"] > 0.8).all()                          # lower-is-better metric vs DMOS: positive
    ok = m[m.status == "ok"]
    assert set(ok["method"]) == {"mad", "bright"} and (m[m.method == "broken"]["status"] == "failed").all()
    assert np.isfinite(ok[["srocc", "plcc", "krocc", "rmse"]].to_numpy()).all()   # never a NaN in a table
    assert "failed" in md and "weights not found" in md       # its row says failed, the note says why
    fails = pd.read_csv(out / "failures.csv", keep_default_na=False)
    assert any("c0_l4.png" in i for i in fails["image"])
    assert "weights not found" in " ".join(fails["reason"])    # the broken method is reported
    assert json.loads((out / "run.json").read_text())["failed_methods"]["broken"]
    n_mad, n_fit = CALLS["mad"], CALLS["fit"]
    assert n_mad == 24                                          # each image once, not once per split
    # resume: nothing is recomputed, the same numbers come out
    res2 = run(cfg)
    assert CALLS["mad"] == n_mad and CALLS["fit"] == n_fit
    pd.testing.assert_frame_equal(res.metrics, res2.metrics)


def test_tables_regenerate_from_predictions(tiny, use_entries):
    from benchmark.cli import main

    # registered after "bright" but first alphabetically: the regenerated table keeps the run's row order
    use_entries(mbase.METHODS, MethodInfo(
        "a_bright", lambda ctx: Brightness(), "NR", "NR hand-crafted", "classical", trainable=True, label="ABright"))
    out = tiny / "out"
    run(RunConfig(suite="all", datasets=["tiny"], out=str(out), n_repeats=2, progress=False, plots=False))
    before = (out / "tables.md").read_text()
    (out / "tables.md").unlink()
    assert main(["tables", "--out", str(out), "--no-plots"]) == 0
    assert (out / "tables.md").read_text() == before


def test_quick_preset_changes_fingerprint(tiny):
    out = tiny / "out"
    run(RunConfig(suite="classical", datasets=["tiny"], out=str(out), n_repeats=2, progress=False, plots=False))
    n = CALLS["fit"]
    run(RunConfig(suite="classical", datasets=["tiny"], out=str(out), n_repeats=2, progress=False, plots=False,
                  quick=True))
    assert CALLS["fit"] == 2 * n


def test_per_distortion_rows(tiny):
    res = run(RunConfig(suite="fr", datasets=["tiny"], out=str(tiny / "o"), n_repeats=2, test_size=0.5,
                        progress=False, plots=False))
    assert set(res.per_type["dist_type"]) == {"white_noise", "other"}
    assert (tiny / "o" / "tables" / "per_distortion_tiny.md").exists()


def test_saved_deep_predictions_are_not_reused_across_training_presets(tmp_path):
    from benchmark.runner import _Runner

    deep = MethodInfo("cnn", lambda ctx: None, "NR", "NR deep", "deep", trainable=True)
    classical = MethodInfo("feat", lambda ctx: None, "NR", "NR hand-crafted", "classical", trainable=True)
    test = pd.DataFrame({"image": ["a.png", "b.png"], "score": [1.0, 2.0]})

    def fp(info, device):
        return _Runner(RunConfig(out=str(tmp_path), device=device, progress=False))._fp(info, test, test, 0)

    assert fp(deep, "cpu") != fp(deep, "cuda")           # 'cpu' preset vs the papers' schedule
    assert fp(classical, "cpu") == fp(classical, "cuda")  # features do not depend on the device
