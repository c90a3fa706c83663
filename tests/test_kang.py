"""Kang et al. 2014 CNN: local normalisation, architecture, L1 patch training on a tiny set."""
from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

torch = pytest.importorskip("torch")

from deep_helpers import tiny_noise_set  # noqa: E402

from scipy.stats import spearmanr  # noqa: E402

from features.imageio import ImageError  # noqa: E402
from deep.models.bosse import count_parameters  # noqa: E402
from features.imageio import rgb_to_gray  # noqa: E402
from deep.models.kang import ConvMaxMin, KangCNN, KangNet, kang_encode, local_normalize  # noqa: E402






def test_parameter_count_from_the_architecture():
    # conv 50x(7x7) + 50, FC 100->800, FC 800->800, FC 800->1
    assert count_parameters(KangNet()) == (50 * 49 + 50) + (100 * 800 + 800) + (800 * 800 + 800) + (800 + 1)
    net = KangNet()
    assert net.conv(torch.zeros(1, 1, 32, 32)).shape == (1, 50, 26, 26)
    assert net(torch.zeros(3, 1, 32, 32)).shape == (3,)


def test_local_normalisation_matches_a_direct_window_computation():
    rng = np.random.default_rng(1)
    g = rng.uniform(0, 255, (12, 15))
    out = local_normalize(g, P=3, Q=3, C=1.0)
    # interior pixel: plain 7x7 window, population standard deviation
    for i, j in [(5, 7), (3, 3), (8, 11)]:
        w = g[i - 3:i + 4, j - 3:j + 4]
        assert out[i, j] == pytest.approx((g[i, j] - w.mean()) / (w.std() + 1.0), rel=1e-10)
    # border pixel: symmetric reflection including the edge pixel (MATLAB 'symmetric')
    padded = np.pad(g, 3, mode="symmetric")
    w = padded[0:7, 0:7]
    assert out[0, 0] == pytest.approx((g[0, 0] - w.mean()) / (w.std() + 1.0), rel=1e-10)
    assert np.allclose(local_normalize(np.full((9, 9), 77.0)), 0.0)


def test_encoding_is_the_normalised_grey_image_in_float16_and_rejects_constant_images():
    rgb = np.random.default_rng(0).integers(0, 256, (40, 36, 3), dtype=np.uint8)
    x = kang_encode(rgb)
    assert x.shape == (1, 40, 36) and x.dtype == np.float16
    full = local_normalize(rgb_to_gray(rgb))                 # Eq. 1-3 on the whole image, float64
    np.testing.assert_allclose(x[0].astype(np.float64), full, atol=4e-3, rtol=0)
    with pytest.raises(ImageError, match="constant"):
        kang_encode(np.full((40, 40, 3), 9, np.uint8))


def test_fused_conv_max_min_gradients_equal_autograds():
    torch.manual_seed(0)
    x = torch.randn(6, 1, 32, 32, dtype=torch.float64, requires_grad=True)
    w = torch.randn(50, 1, 7, 7, dtype=torch.float64, requires_grad=True)
    b = torch.randn(50, dtype=torch.float64, requires_grad=True)

    def reference(x, w, b):
        h = torch.nn.functional.conv2d(x, w, b).flatten(2)
        return torch.cat([h.max(dim=2).values, h.min(dim=2).values], dim=1)

    g = torch.randn(6, 100, dtype=torch.float64)
    ours = torch.autograd.grad((ConvMaxMin.apply(x, w, b) * g).sum(), (x, w, b))
    ref = torch.autograd.grad((reference(x, w, b) * g).sum(), (x, w, b))
    for a, r in zip(ours, ref):
        torch.testing.assert_close(a, r)
    torch.testing.assert_close(ConvMaxMin.apply(x, w, b), reference(x, w, b))


def test_overfits_a_handful_of_images(tmp_path):
    rec = tiny_noise_set(tmp_path)
    m = KangCNN(max_epochs=20, patience=None, val_fraction=0, batch_size=2, device="cpu", seed=0)
    m.fit(rec)
    assert m.hyper_parameters_["n_patches"] is None          # paper preset: every non-overlapping patch
    loss = m.history_["train_loss"].to_numpy()
    assert loss[-1] < 0.5 * loss[0] and loss[-1] < 0.25       # mean predictor: MAE 1/3
    pred = m.predict(rec)
    assert spearmanr(pred, -rec["score"]).statistic > 0.9


def test_quick_preset_and_failures(tmp_path):
    from PIL import Image

    rec = tiny_noise_set(tmp_path, levels=(0, 2))
    flat = tmp_path / "flat.png"
    Image.fromarray(np.full((64, 64, 3), 128, np.uint8)).save(flat)
    test = pd.concat([rec, pd.DataFrame([{"image": str(flat), "ref": "", "score": 1.0, "higher_better": False,
                                          "content": "x"}])], ignore_index=True)
    m = KangCNN(quick=True, device="cpu").fit(test)     # a constant training image is skipped, not fatal
    assert "constant" in m.failures_[str(flat)]
    hp = m.hyper_parameters_
    assert hp["max_epochs"] == 3 and hp["n_patches"] == 8 and len(m.history_) == 3
    pred = m.predict(test)
    assert np.isnan(pred[-1]) and "constant" in m.failures_[str(flat)]
    assert np.all(np.isfinite(pred[:-1]))
