"""deep.deepbiq: DeepBIQ (Bianco et al.): 5 ACR classes, fine-tuning, SVR on crop features, prediction pooling."""
from __future__ import annotations

import numpy as np
import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("torchvision")

from deep.deepbiq import DeepBIQ, acr_classes  # noqa: E402
from deep.finetune import _Tap  # noqa: E402
from tests.deep_helpers import tiny_noise_set  # noqa: E402


def test_acr_classes_split_the_range_in_five_equal_intervals():
    s = np.array([0.0, 0.19, 0.2, 0.5, 0.79, 0.8, 0.99, 1.0])
    assert acr_classes(s, 0.0, 1.0).tolist() == [0, 0, 1, 2, 3, 4, 4, 4]
    assert acr_classes(np.array([10.0, 30.0, 50.0])).tolist() == [0, 2, 4]      # range of the scores given
    assert acr_classes(np.array([3.0, 3.0])).tolist() == [0, 0]


@pytest.fixture(scope="module")
def records(tmp_path_factory):
    return tiny_noise_set(tmp_path_factory.mktemp("deepbiq"), n_content=3, levels=(0, 1, 2, 3, 4), size=80)


def test_fit_predict_and_average_prediction_pooling(records):
    m = DeepBIQ("alexnet", "random", crop_size=64, n_train_crops=4, n_test_crops=3, svr_crops=2, svr_C=(0.1,), epochs=1,
                val_fraction=0.0, batch_size=32, lr=1e-3, device="cpu")
    assert m.head is None and m.loss == "ce"
    m.fit(records)
    assert m.head_ == "classifier" and m.train_result_.epochs_run == 1
    with torch.no_grad():
        out = m.model_(torch.zeros(2, 3, 64, 64))
    assert out.shape == (2, 5)                                  # five ACR classes
    pred = m.predict(records)
    assert pred.shape == (len(records),) and np.all(np.isfinite(pred)) and np.ptp(pred) > 0
    # the image score is the mean of the SVR's predictions on its crops (average prediction pooling)
    per_crop, _ = m.crop_outputs(records.iloc[:3], _Tap(m.model_).eval(), pool=None)
    pooled = [m.svr_.predict(f.astype(np.float64)).mean() * m.y_std_ + m.y_mean_ for f in per_crop]
    np.testing.assert_allclose(pred[:3], pooled, rtol=1e-6, atol=1e-9)
    assert per_crop[0].shape == (3, 4096)                       # fc7 of AlexNet
    with pytest.raises(ValueError, match="loss"):     # checked by fit (scikit-learn convention), before any work
        DeepBIQ("alexnet", "random", loss="l1").fit(records)
