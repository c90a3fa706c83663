"""Full-reference metrics registered as training-free benchmark methods (benchmark.methods.fullref)."""
from __future__ import annotations

import numpy as np
import pytest

from benchmark.datasets.base import make_records
from benchmark.methods.base import RunContext, build_method, get_method_info, list_methods
from features import fullref
from features.imageio import load_image

NAMES = {"psnr": "PSNR", "ssim": "SSIM", "ms_ssim": "MS-SSIM", "fsimc": "FSIMc", "gmsd": "GMSD", "vif": "VIF"}


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    """Three scorable 192x192 pairs, one missing reference file, one size mismatch, one without ref."""
    from PIL import Image
    from skimage import data

    root = tmp_path_factory.mktemp("fr")
    ref = data.astronaut()[40:232, 150:342]
    rng = np.random.default_rng(5)
    noisy = np.clip(ref + rng.normal(0, 12, ref.shape), 0, 255).astype(np.uint8)
    shifted = np.roll(ref, 2, axis=1)
    Image.fromarray(ref).save(root / "ref.png")
    Image.fromarray(noisy).save(root / "noisy.png")
    Image.fromarray(shifted).save(root / "shifted.png")
    Image.fromarray(ref).save(root / "same.png")
    Image.fromarray(noisy[:180]).save(root / "small.png")
    Image.fromarray(noisy).save(root / "orphan.png")
    Image.fromarray(noisy).save(root / "noref.png")
    rows = [
        {"image": root / "noisy.png", "ref": root / "ref.png", "score": 3.0},
        {"image": root / "shifted.png", "ref": root / "ref.png", "score": 2.0},
        {"image": root / "same.png", "ref": root / "ref.png", "score": 5.0},
        {"image": root / "orphan.png", "ref": root / "missing.png", "score": 1.0},
        {"image": root / "small.png", "ref": root / "ref.png", "score": 1.0},
        {"image": root / "noref.png", "ref": "", "score": 1.0},
    ]
    return make_records(rows, dataset="tiny")


def test_registration():
    infos = {m.name: m for m in list_methods(suite="fr")}
    assert set(NAMES) <= set(infos)
    for name, label in NAMES.items():
        info = get_method_info(name)
        assert (info.kind, info.group, info.suite, info.label) == ("FR", "FR", "fr", label)
        assert info.higher_better is (name != "gmsd")
        assert not info.trainable and info.paper and info.reference


@pytest.mark.parametrize("name", sorted(NAMES))
def test_predict(records, name):
    method = build_method(name, RunContext(n_jobs=1, progress=False))
    assert method.fit(records) is method
    pred = method.predict(records)
    assert pred.shape == (len(records),) and pred.dtype == np.float64
    func = fullref.METRICS[name][0]
    for i in range(3):
        expected = func(load_image(records.at[i, "ref"]), load_image(records.at[i, "image"]))
        assert pred[i] == pytest.approx(expected, rel=1e-12)
    assert np.all(np.isnan(pred[3:]))
    fails = method.failures_
    assert "missing.png: file not found" in fails[records.at[3, "image"]]
    assert "small.png" in fails[records.at[4, "image"]] and "180x192" in fails[records.at[4, "image"]]
    assert "no reference" in fails[records.at[5, "image"]]
    # identical pair: the maximum (PSNR: +inf, reported), GMSD: 0
    best = {"psnr": np.inf, "gmsd": 0.0}.get(name, 1.0)
    assert pred[2] == pytest.approx(best, abs=1e-9)
    assert np.all(np.isfinite(pred[:2]))
    if name == "psnr":  # +inf is the true value; the reason is reported, not hidden
        assert "identical" in fails[records.at[2, "image"]]
    else:
        assert records.at[2, "image"] not in fails


def test_parallel_and_progress_match_serial(records):
    serial = build_method("gmsd", RunContext(n_jobs=1, progress=False)).predict(records)
    method = build_method("gmsd", RunContext(n_jobs=2, progress=True))
    parallel = method.predict(records)
    np.testing.assert_array_equal(serial, parallel)
    assert sorted(method.failures_) == sorted(records["image"].iloc[3:])
