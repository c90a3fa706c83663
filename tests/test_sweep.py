"""Sweeps (benchmark.analysis.sweep), per-crop CNN features, the sweep CLI, old prediction files."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from benchmark.analysis.crops import pool_crops
from benchmark.analysis.sweep import SweepConfig, check_config, parse_values


def test_parse_values():
    assert parse_values(["1", "2,4", "all", "0.5"]) == [1, 2, 4, "all", 0.5]


def test_pool_crops():
    F = np.arange(2 * 3 * 2, dtype=float).reshape(2, 3, 2)
    np.testing.assert_array_equal(pool_crops(F, 2, "mean"), F[:, :2].mean(1))
    np.testing.assert_array_equal(pool_crops(F, 3, "min"), F[:, 0])
    np.testing.assert_array_equal(pool_crops(F, 3, "max"), F[:, 2])
    assert pool_crops(F, 2, "concat").shape == (2, 4)
    with pytest.raises(ValueError):
        pool_crops(F, 4, "mean")


@pytest.mark.parametrize("kw, msg", [
    ({"method": "brisque", "param": "n_crops", "values": [1]}, "CNN features"),
    ({"method": "brisque", "param": "n_patches", "values": [1]}, "deepIQA"),
    ({"method": "mobilenet_v2_svr", "param": "n_crops", "values": [0]}, "positive"),
    ({"method": "mobilenet_v2_svr", "param": "pooling", "values": ["median"]}, "unknown pooling"),
    ({"method": "s3", "param": "kernel", "values": ["rbf"]}, "training-free"),
])
def test_config_errors_before_any_work(kw, msg):
    with pytest.raises(ValueError, match=msg):
        check_config(SweepConfig(**kw))


def test_cli_mistake_is_one_line(capsys):
    from benchmark.cli import main

    with pytest.raises(SystemExit) as e:
        main(["sweep", "--method", "brisque", "--param", "n_patches", "--values", "4"])
    assert "sweep: n_patches sweeps apply to deepIQA methods" in str(e.value)


def test_crop_features_average_is_cnn_features(tmp_path):
    pytest.importorskip("torch")
    from PIL import Image

    from benchmark.analysis.crops import CropFeatures
    from deep.features import CNNFeatures

    rng = np.random.default_rng(0)
    paths = []
    for k in range(2):
        p = tmp_path / f"{k}.png"
        Image.fromarray(rng.integers(0, 255, (48, 40, 3), dtype=np.uint8)).save(p)
        paths.append(str(p))
    cnn = CNNFeatures(arch="mobilenet_v2", weights="random", n_crops=4, crop_size=32, cache_dir=tmp_path / "c")
    want = cnn.transform(paths)
    cf = CropFeatures(cnn)                       # reuses the network CNNFeatures built
    F = cf.transform(paths)
    assert F.shape == (2, 4, 1280)
    np.testing.assert_allclose(F.mean(1), want, rtol=1e-4, atol=1e-5)
    # the second call reads the cache; cache_only leaves unknown images as NaN
    np.testing.assert_array_equal(CropFeatures(cnn).transform(paths, cache_only=True), F)
    other = tmp_path / "new.png"
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(other)
    assert np.isnan(CropFeatures(cnn).transform([str(other)], cache_only=True)).all()


def test_patch_pool_matches_deepiqa_predict(tmp_path):
    pytest.importorskip("torch")
    from deep_helpers import tiny_noise_set

    from benchmark.analysis.sweep import _patch_scores, _pool_patches
    from deep.models.bosse import DeepIQA

    rec = tiny_noise_set(tmp_path, n_content=2, size=64)
    for weighted in (True,):        # Eq. 4-5; the plain mean (Eq. 1) is the same code without weights
        est = DeepIQA(weighted=weighted, quick=True, seed=0).fit(rec)
        hp = {**est.hyper_parameters_, "predict_patches": None}     # every non-overlapping patch
        est._predict_hp = lambda: hp                                # (the quick preset predicts from 8 random ones)
        want = est.predict(rec)
        pools = _patch_scores(est, list(rec["image"]), None, 0)
        got = np.array([_pool_patches(y, a, np.arange(len(y))) for y, a in pools])
        assert all(len(y) == 4 for y, _ in pools)          # 64x64 image: 2 x 2 patches of 32
        np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)


def test_generic_and_kernel_sweeps_on_a_tiny_set(tmp_path, use_entries):
    from test_runner import make_tiny

    from benchmark.analysis.sweep import run_sweep
    from benchmark.datasets import base as dsbase
    from benchmark.datasets.base import DatasetInfo

    rec = make_tiny(tmp_path, n_content=6, corrupt=False)
    use_entries(dsbase.DATASETS, DatasetInfo(
        name="tiny", loader=lambda root, **kw: rec, title="tiny", kind="synthetic", builtin=True, higher_better=False))
    cfg = SweepConfig(method="brisque", param="kernel", values=["rbf", "linear"], dataset="tiny", repeats=2,
                      quick=True, out=str(tmp_path / "o"), cache_dir=str(tmp_path / "c"), progress=False)
    res = run_sweep(cfg, log=lambda m: None)
    f = res["frame"]
    assert list(dict.fromkeys(f["value"])) == ["rbf", "linear"] and f["split"].nunique() == 2
    assert np.isfinite(f["srocc"]).all()
    for ext in ("csv", "md", "tex", "png", "json"):
        assert (tmp_path / "o" / f"sweep_brisque_kernel.{ext}").exists()
    assert res["table"].row_labels == ["rbf", "linear"]


def test_old_prediction_files_stay_readable(tmp_path):
    from benchmark.storage import PredictionStore

    store = PredictionStore(tmp_path)
    df = pd.DataFrame({"image": ["a", "b", "c"], "content": ["1", "1", "2"], "dist_type": ["x", "", "y"],
                       "y_true": [1.0, 2.0, 3.0], "true_higher_better": True, "y_pred": [0.1, 0.2, 0.3],
                       "pred_higher_better": True})
    p = store.save(df, "m", "within", "d", "d", "r00", "fp")           # a frame without dist_level
    old = pd.read_csv(p)
    old.drop(columns="dist_level").to_csv(p, index=False)              # as written before dist_level was saved
    back = store.load("m", "within", "d", "d", "r00", "fp")
    assert back is not None and back["dist_level"].isna().all() and list(back["dist_type"]) == ["x", "", "y"]
