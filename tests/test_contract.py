"""The method contract, checked for every registered method (after pyiqa's ``tests/test_metric_general.py``).

Parametrised over :data:`benchmark.methods.METHODS` (built-ins and installed plugins): a newly
registered method is covered here without writing a test.  Each method is built as a quick run
builds it (``RunContext(quick=True)``: CNNs at their ``quick`` presets, CPU, offline) and checked
on a 12-image set (the built-in ``synth`` set: 4 contents x Gaussian blur at levels 1, 3, 5, 192 x 192,
the smallest size at which NIQE (two 96 x 96 blocks) and MS-SSIM (176 x 176 at its 5th scale) are
defined) plus one corrupt file:

* ``get_params`` / :func:`sklearn.base.clone` of the built estimator, and ``NotFittedError`` from
  ``predict`` before ``fit`` for a trainable method;
* ``fit`` on the set with the corrupt file returns the estimator and leaves its parameters
  unchanged (sklearn's ``check_estimators_overwrite_params``, on image records); ``predict`` on
  it gives one prediction per record, finite for every valid image, NaN for the corrupt file with
  a non-empty reason under its path in ``failures_`` (what the runner reports), and the batch is
  not interrupted;
* a second estimator built with the same seed gives the same predictions (exactly).

ImageNet-transfer methods use the shared weights (``../shared/weights``: MobileNetV2, and the
``features.*``-only AlexNet and VGG16 files) through ``RunContext.weights``; a method whose weights
are not there (ResNet50), or that needs the classifier layers (fc6/fc7) those files do not hold, is
skipped with the resolver's reason.  The feature cache is off, so the second fit recomputes
everything.  ``vgg16_svr`` (VGG16 convolutions on a CPU) is marked ``slow``.
"""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from sklearn.exceptions import NotFittedError

from benchmark.methods import METHODS, RunContext, get_method_info
from benchmark.methods.base import available

from conftest import SHARED

#: the one case too slow for the default run: VGG16's 13 convolutions on 2 x 13 images x 5 crops, twice
SLOW = frozenset({"vgg16_svr"})
WEIGHT_FILES = {"mobilenet_v2": "mobilenet_v2-b0353104.pth", "alexnet": "alexnet_features-imagenet.pth",
                "vgg16": "vgg16_features-imagenet.pth"}
SIZE = 192
LEVELS = (1, 3, 5)


def _cases() -> list:
    return [pytest.param(n, marks=pytest.mark.slow) if n in SLOW else n for n in METHODS.names()]


@pytest.fixture(scope="module")
def contract_set(tmp_path_factory) -> pd.DataFrame:
    """12 synth images (4 contents x 3 blur levels) and a corrupt PNG (last record, with a valid reference)."""
    from benchmark.datasets.synth import load_synth

    root = tmp_path_factory.mktemp("contract")
    rec = load_synth(root, n_contents=4, size=SIZE, distortions=["gaussian_blur"])
    rec = rec[rec["dist_level"].isin(LEVELS)].reset_index(drop=True)
    assert len(rec) == 12
    bad = root / "corrupt.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\n" + b"truncated, not an image" * 4)
    row = rec.iloc[[0]].copy()
    row["image"] = str(bad)
    return pd.concat([rec, row], ignore_index=True)


def _context() -> RunContext:
    weights = {arch: str(SHARED / "weights" / f) for arch, f in WEIGHT_FILES.items()
               if (SHARED / "weights" / f).exists()}
    return RunContext(cache_dir=None, n_jobs=1, quick=True, weights=weights, device="cpu", seed=0, work_dir=None,
                      progress=False, offline=True)


def _build(name: str):
    """The method as a quick run builds it, or skip (missing package, weights not in ../shared)."""
    info = get_method_info(name)
    if not available(info):
        pytest.skip(f"{name} needs {', '.join(info.requires)}")
    try:
        from deep.backbones import WeightsError
    except ImportError:      # no torch: no method can raise it
        WeightsError = ()    # noqa: N806
    try:
        return info.factory(_context())
    except WeightsError as exc:
        pytest.skip(f"{name}: no usable ImageNet weights in {SHARED / 'weights'}: {exc}")


@pytest.mark.parametrize("name", _cases())
def test_params_and_clone(name, contract_set):
    est = _build(name)
    params = est.get_params(deep=False)
    assert isinstance(params, dict)
    twin = clone(est)                 # sklearn checks every parameter is passed through unchanged
    assert type(twin) is type(est)
    assert twin.get_params(deep=False).keys() == params.keys()
    if get_method_info(name).trainable:
        with pytest.raises(NotFittedError):
            est.predict(contract_set)


def _fit_predict(name: str, records: pd.DataFrame):
    from joblib import hash as joblib_hash

    est = _build(name)
    before = joblib_hash(est.get_params(deep=False))
    assert est.fit(records) is est, f"{name}: fit must return the estimator"
    assert joblib_hash(est.get_params(deep=False)) == before, f"{name}: fit changed a constructor parameter"
    return est, np.asarray(est.predict(records))


@pytest.mark.parametrize("name", _cases())
def test_predictions_contract(name, contract_set):
    est, pred = _fit_predict(name, contract_set)
    bad = contract_set["image"].iloc[-1]
    assert pred.shape == (len(contract_set),)
    assert np.isfinite(pred[:-1]).all(), f"{name}: non-finite predictions {pred[:-1]}, failures {est.failures_}"
    assert np.isnan(pred[-1])
    fails = getattr(est, "failures_", {})
    assert set(fails) == {bad}, f"{name}: failures_ {fails}"
    assert isinstance(fails[bad], str) and fails[bad].strip()
    _, again = _fit_predict(name, contract_set)     # a new estimator, the same seed
    np.testing.assert_array_equal(again, pred)
