"""Training presets of the deep methods (paper / cpu / quick) and the linear-kernel SVR."""
from __future__ import annotations

import numpy as np
import pytest
from sklearn.svm import SVR

from benchmark.methods import RunContext
from benchmark.methods.base import deep_preset
from benchmark.methods.regression import LinearKernel


def test_deep_preset_follows_device_and_quick():
    assert deep_preset(RunContext(quick=True, device="cuda")) == "quick"
    assert deep_preset(RunContext(device="cpu")) == "cpu"
    assert deep_preset(RunContext(device="cuda:0")) == "paper"


def test_models_take_the_named_preset_and_reject_unknown_ones():
    pytest.importorskip("torch")
    from deep.models.bosse import DeepIQA
    from deep.models.kang import KangCNN
    from deep.models.kim import KimCNN
    from deep.models.yang import YangSiamese

    for cls in (KangCNN, DeepIQA, KimCNN, YangSiamese):
        assert set(cls.PRESETS) == {"paper", "cpu", "quick"}
        for name, model in (("cpu", cls(preset="cpu")), ("quick", cls(quick=True)), ("paper", cls())):
            hp = model.hyper_parameters()
            assert {k: hp[k] for k in cls.PRESETS[name]} == cls.PRESETS[name], (cls.__name__, name)
        # an explicit argument still overrides the preset
        assert cls(preset="cpu", max_epochs=1).hyper_parameters()["max_epochs"] == 1
        with pytest.raises(ValueError, match="unknown preset"):
            cls(preset="tiny").hyper_parameters()
    # the CPU presets train to early stopping on the validation split; the quick ones are tiny
    for cls in (KangCNN, DeepIQA, KimCNN, YangSiamese):
        cpu, quick = cls.PRESETS["cpu"], cls.PRESETS["quick"]
        assert cpu["patience"] is not None and cpu["val_fraction"] > 0 and cpu["max_epochs"] >= 50, cls.__name__
        assert quick["max_epochs"] <= 3, cls.__name__
    assert YangSiamese.PRESETS["cpu"]["core"] == "kim"


def test_linear_kernel_svr_equals_libsvm_linear_svr():
    rng = np.random.default_rng(0)
    X = rng.normal(size=(60, 300))
    y = X[:, :5].sum(axis=1) + 0.1 * rng.normal(size=60)
    Xt = rng.normal(size=(20, 300))
    s = np.sqrt(X.shape[1])      # the kernel is normalised by the number of features
    ref = SVR(kernel="linear", C=0.1).fit(X / s, y).predict(Xt / s)
    gram = LinearKernel().fit(X)
    ours = SVR(kernel="precomputed", C=0.1).fit(gram.transform(X), y).predict(gram.transform(Xt))
    np.testing.assert_allclose(ours, ref, rtol=1e-6, atol=1e-8)


def test_checkpoint_key_changes_with_training_version(monkeypatch):
    pytest.importorskip("torch")
    from deep.models.kang import KangCNN

    m = KangCNN(preset="cpu", device="cpu", seed=0)
    hp = m.hyper_parameters()
    paths, targets = ["a.png", "b.png"], np.array([0.0, 1.0])
    key = m._run_key(hp, paths, targets)
    assert m._run_key(hp, paths, targets) == key
    monkeypatch.setattr(KangCNN, "TRAINING_VERSION", KangCNN.TRAINING_VERSION + "-next")
    assert m._run_key(hp, paths, targets) != key   # an old checkpoint is not resumed by changed code
